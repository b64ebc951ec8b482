#!/usr/bin/env node
// Browser test of the showcase's likes gallery (widget actions with widget tokens) against a
// running showcase started with a short widget-token lifetime (WIDGETRY_WIDGET_TOKEN_TTL_SECS=2).
//
//   node tests/browser/gallery_browser.mjs --url http://127.0.0.1:PORT/mcp --artifacts DIR \
//        --email E --password P
//
// 1. Signs the demo user in over HTTP with a real OAuth flow against the showcase's embedded
//    authorization server (dynamic registration, PKCE authorize, the sign-in and consent
//    forms, code exchange; scopes `user read:data likes:write`), then connects two official
//    MCP TypeScript SDK clients: one with that bearer (as ChatGPT after account linking), one
//    anonymous. Reads the gallery widget (`text/html;profile=mcp-app`, one URI for both keys).
// 2. Serves tests/browser/harness.html twice on 127.0.0.1:0: POST /call on one forwards the
//    widget's tool calls with the user's bearer, on the other anonymously.
// 3. In headless Debian chromium (playwright-core), MCP Apps bridge:
//    a. signed out: the counts render, "Not signed in" and the sign-in prompt show, a click
//       on Like explains that signing in is needed and changes nothing;
//    b. signed in: Like on one image goes straight to POST /widget/actions/like_image (200)
//       and the button shows liked with the count + 1;
//    c. after the token expired (its 2 s lifetime passed), the next Like still works: the
//       runtime renews through widgetry_refresh_widget_token (a tools/call in the host log)
//       and the direct call carries the new token;
//    d. with a host whose clock says the token is still fresh (expiresAt in the future), the
//       expired token gets a 401, the runtime renews once and retries (200);
//    e. with POST /widget/actions/** aborted (page.route, as a CSP without the app origin
//       would), Like still succeeds through callTool: the host log shows tools/call like_image.
//    Then over MCP: show_gallery as the user reports the new counts with liked = true, and as
//    an anonymous viewer the same counts with liked = false; the signed-out widget re-renders
//    them. Through the window.openai bridge (dark), one like and unlike work directly.
// Screenshots: DIR/gallery-signed-out.png, gallery-liked.png, gallery-fallback.png,
// gallery-openai-dark.png (and gallery-failure.png on failure).
// Prints one JSON line (the summary); on failure also the reason on stderr, exit status 1.
// Finds node packages in $WIDGETRY_NODE_DIR (default tests/node) and chromium at
// $WIDGETRY_CHROMIUM (default /usr/bin/chromium). Everything is loopback; bounded to 80 s.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  check, cleanups, connectMcp, DEFAULT_ARTIFACTS, launchChromium, loadDeps, MIME_MCP_APP,
  parseArgs, poll, runDriver, sleep, startHarnessServer, STEP_MS,
} from './lib.mjs';

const OVERALL_MS = 80_000;
const ARGS = {
  script: 'gallery_browser.mjs',
  usage: '--url URL --email E --password P [--artifacts DIR]',
  flags: ['--email', '--password'],
  required: ['url', 'email', 'password'],
  fromEnv: { email: 'WIDGETRY_DEMO_EMAIL', password: 'WIDGETRY_DEMO_PASSWORD' },
};
const REFRESH_TOOL = 'widgetry_refresh_widget_token';
const TOKEN_KEY = 'widgetry/widgetToken';
const SCOPES = 'user read:data likes:write';
const REDIRECT_URI = 'http://127.0.0.1:9/callback'; // never followed: the code is read from Location

const summary = { ok: false, url: null, user: null, tokenTtl: null, steps: {}, screenshots: [] };

const jwtClaims = (t) => JSON.parse(Buffer.from(String(t).split('.')[1] || '', 'base64url').toString('utf8') || 'null');

// ------------------------------------------------------------------------------ OAuth
// The flow ChatGPT runs when a user links an account, done over plain HTTP: register,
// authorize with PKCE, sign in, consent, exchange the code.
async function signIn(base, resource, email, password) {
  const b64u = (b) => Buffer.from(b).toString('base64url');
  const reg = await fetch(`${base}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Widgetry gallery browser test',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  const client = await reg.json().catch(() => ({}));
  check(reg.status === 201 && client.client_id, `POST /oauth/register answered ${reg.status}: ${JSON.stringify(client)}`);

  const verifier = b64u(crypto.randomBytes(32));
  const challenge = b64u(crypto.createHash('sha256').update(verifier).digest());
  const state = b64u(crypto.randomBytes(9));
  const query = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT_URI, scope: SCOPES,
    code_challenge: challenge, code_challenge_method: 'S256', state, resource,
  });
  let res = await fetch(`${base}/oauth/authorize?${query}`, { redirect: 'manual' });
  const cookie = (res.headers.get('set-cookie') || '').split(';')[0];
  let page = await res.text();
  check(res.status === 200 && cookie, `GET /oauth/authorize answered ${res.status} (cookie ${JSON.stringify(cookie)}): ${page.slice(0, 300)}`);

  const formOf = (html) => {
    const action = /<form[^>]*action="([^"]+)"/.exec(html);
    const fields = {};
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[m[1]] = m[2];
    return { action: action && action[1].replace(/&amp;/g, '&'), fields };
  };
  const submit = (html, extra) => {
    const f = formOf(html);
    check(f.action, `the authorization page has no form: ${html.slice(0, 300)}`);
    return fetch(new URL(f.action, base), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ ...f.fields, ...extra }),
    });
  };
  check(/name="password"/.test(page), `the authorize page is not the sign-in form: ${page.slice(0, 300)}`);
  res = await submit(page, { username: email, password });
  // Sign-in → (consent) → redirect with the code.
  for (let i = 0; i < 3 && res.status === 200; i++) {
    page = await res.text();
    const f = formOf(page);
    check(f.action && f.action.includes('consent'), `after signing in as ${email}, expected the consent form; got: ${page.replace(/<style>[\s\S]*?<\/style>/, '').slice(0, 400)}`);
    res = await submit(page, { decision: 'allow' });
  }
  const location = res.headers.get('location');
  check(res.status === 303 && location, `the authorization did not redirect (status ${res.status}): ${(await res.text()).slice(0, 300)}`);
  const back = new URL(location);
  check(back.searchParams.get('state') === state, `the redirect's state is ${back.searchParams.get('state')}; want ${state}`);
  const code = back.searchParams.get('code');
  check(code, `the redirect carries no code: ${location}`);

  const tok = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI,
      client_id: client.client_id, resource,
    }),
  });
  const tokens = await tok.json().catch(() => ({}));
  check(tok.status === 200 && tokens.access_token, `POST /oauth/token answered ${tok.status}: ${JSON.stringify(tokens)}`);
  const granted = String(tokens.scope || '').split(' ');
  check(granted.includes('likes:write'), `the access token lacks likes:write (scope ${JSON.stringify(tokens.scope)})`);
  return tokens.access_token;
}

// ---------------------------------------------------------------------------------- MCP
function connect(deps, url, bearer) {
  return connectMcp(deps, url, { name: 'widgetry-gallery-browser-test', bearer, who: bearer ? 'signed in' : 'anonymous' });
}

async function readWidget(client, uri, mime) {
  const res = await client.readResource({ uri });
  const c = (res.contents || []).find((x) => x.mimeType === mime);
  check(c, `resources/read ${uri}: no content with mimeType ${mime}; got ${JSON.stringify((res.contents || []).map((x) => x.mimeType))}`);
  const html = typeof c.text === 'string' ? c.text : Buffer.from(c.blob || '', 'base64').toString('utf8');
  check(html.includes('gl-grid'), `resources/read ${uri}: not the gallery widget`);
  return html;
}

async function gallery(client, who) {
  const r = await client.callTool({ name: 'show_gallery', arguments: {} });
  check(!r.isError, `show_gallery as ${who} returned isError: ${JSON.stringify(r.content)}`);
  const sc = r.structuredContent;
  check(sc && Array.isArray(sc.images) && sc.images.length >= 3 && sc.viewer,
    `show_gallery as ${who}: structuredContent must have images (≥ 3) and viewer; got ${JSON.stringify(sc)}`);
  return r;
}

const byId = (result) => Object.fromEntries(result.structuredContent.images.map((i) => [i.id, i]));

// ------------------------------------------------------------------------ harness server
/** The harness server for `client`; its calls go to `calls`, marked with `label`. */
function startHarness(client, calls, label) {
  return startHarnessServer((call) => client.callTool(call), (call) => {
    const entry = { as: label, name: call.name, arguments: call.arguments, t: Date.now() };
    calls.push(entry);
    return (result, error) => {
      if (result) entry.isError = !!result.isError;
      else entry.error = error.message;
    };
  });
}

// ------------------------------------------------------------------------------- browser
/** One harness page: the widget in its sandboxed iframe, with network and log observers. */
async function openWidget(browser, { base, bridge, theme, html, result, label }) {
  const context = await browser.newContext({ viewport: { width: 1040, height: 760 }, deviceScaleFactor: 1, colorScheme: theme });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  const net = []; // every request to the action endpoints: { url, action, status, failure, auth }
  page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));
  page.on('console', (m) => {
    // A direct call refused by the server (401 on an expired token, an aborted request) is
    // logged by Chromium as a failed resource load; it is expected and asserted through `net`.
    if (m.type() === 'error' && !/Failed to load resource|ERR_FAILED|ERR_BLOCKED_BY_CLIENT|net::/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  const isAction = (u) => u.includes('/widget/actions/');
  page.on('request', (req) => {
    if (!isAction(req.url()) || req.method() !== 'POST') return;
    const auth = req.headers().authorization || '';
    net.push({ req, url: req.url(), action: req.url().split('/').pop(), status: null, failure: null, token: auth.replace(/^Bearer\s+/i, ''), t: Date.now() });
  });
  page.on('response', (res) => {
    const n = net.find((x) => x.req === res.request());
    if (n) n.status = res.status();
  });
  page.on('requestfailed', (req) => {
    const n = net.find((x) => x.req === req);
    if (n) n.failure = (req.failure() && req.failure().errorText) || 'failed';
  });
  await page.goto(`${base}/harness.html?bridge=${bridge}&theme=${theme}`);
  await page.evaluate((a) => window.harness.load(a), { html, toolName: 'show_gallery', toolInput: {}, toolResult: result });
  const frame = page.frameLocator('#widget');
  const where = `[${label}, ${bridge}, ${theme}]`;
  const images = result.structuredContent.images;
  await poll(`${where} the gallery should render ${images.length} images`, async () => {
    const n = await frame.locator('.gl-card').count();
    return { ok: n === images.length, got: n };
  });
  const events = () => page.evaluate(() => window.harness.events.map((e) => ({ dir: e.dir, what: e.what, detail: e.detail, t: e.t })));
  return { page, frame, net, problems, where, events };
}

function card(w, title) {
  const c = w.frame.locator('.gl-card').filter({ hasText: title });
  return { card: c, button: c.locator('button.gl-like'), count: c.locator('.gl-count') };
}

async function likeState(w, title) {
  const { button, count } = card(w, title);
  return {
    pressed: await button.getAttribute('aria-pressed'),
    count: Number(await count.innerText()),
    disabled: await button.isDisabled(),
    error: await w.frame.locator('#gl-error').evaluate((el) => (el.hidden ? '' : el.textContent)),
  };
}

async function clickAndExpect(w, title, want, what) {
  await card(w, title).button.click();
  return poll(`${w.where} ${what}: after clicking ${title}, the button should show liked=${want.pressed} with ${want.count} likes`, async () => {
    const got = await likeState(w, title);
    return { ok: got.pressed === String(want.pressed) && got.count === want.count && !got.disabled, got };
  });
}

async function shot(w, artifacts, name) {
  const file = path.join(artifacts, name);
  await w.page.screenshot({ path: file });
  summary.screenshots.push(file);
  return file;
}

function noProblems(w) {
  check(w.problems.length === 0, `${w.where} the page reported: ${w.problems.join(' | ')}`);
}

// ---------------------------------------------------------------------------------- main
let current = null; // the page to capture on failure

async function main() {
  const opts = parseArgs(process.argv.slice(2), ARGS);
  summary.url = opts.url;
  fs.mkdirSync(opts.artifacts, { recursive: true });
  const deps = loadDeps();
  const mcpUrl = new URL(opts.url);
  const origin = mcpUrl.origin;

  // 1. The user's access token, the two MCP clients and the widget.
  const accessToken = await signIn(origin, opts.url, opts.email, opts.password);
  const user = await connect(deps, opts.url, accessToken);
  const anon = await connect(deps, opts.url, null);
  const { tools } = await user.listTools();
  const names = tools.map((t) => t.name);
  for (const n of ['show_gallery', 'like_image', 'unlike_image']) check(names.includes(n), `tools/list has no ${n} (tools: ${names.join(', ')})`);
  const tool = tools.find((t) => t.name === 'show_gallery');
  const uiUri = tool._meta && tool._meta.ui && tool._meta.ui.resourceUri;
  const oaUri = tool._meta && tool._meta['openai/outputTemplate'];
  check(uiUri && oaUri === uiUri, `show_gallery _meta must name one widget URI under ui.resourceUri and openai/outputTemplate: ${JSON.stringify(tool._meta)}`);
  const html = { mcpApp: await readWidget(user, uiUri, MIME_MCP_APP), skybridge: await readWidget(user, oaUri, MIME_MCP_APP) };

  const first = await gallery(user, 'the user');
  check(first.structuredContent.viewer.signedIn === true, `show_gallery with the bearer should see a signed-in viewer; got ${JSON.stringify(first.structuredContent.viewer)}`);
  summary.user = first.structuredContent.viewer.name;
  const grant = first._meta && first._meta[TOKEN_KEY];
  check(grant && grant.token && grant.endpoint === `${origin}/widget/actions` && grant.refreshTool === REFRESH_TOOL,
    `show_gallery's _meta["${TOKEN_KEY}"] should carry a token, endpoint ${origin}/widget/actions and refreshTool ${REFRESH_TOOL}; got ${JSON.stringify(grant)}`);
  check(Array.isArray(grant.actions) && grant.actions.includes('like_image') && grant.actions.includes('unlike_image'),
    `the widget token should cover like_image and unlike_image; got ${JSON.stringify(grant.actions)}`);
  const claims = jwtClaims(grant.token);
  summary.tokenTtl = claims.exp - claims.iat;
  check(summary.tokenTtl > 0 && summary.tokenTtl <= 5,
    `the widget token lives ${summary.tokenTtl} s; start the showcase with WIDGETRY_WIDGET_TOKEN_TTL_SECS=2 so the test can see it expire`);
  check(claims.sub && claims.scope === 'likes:write', `widget token claims: ${JSON.stringify(claims)}`);
  const ttlMs = summary.tokenTtl * 1000;

  // Fresh images for each step (the data directory may have likes from an earlier run).
  const images = first.structuredContent.images;
  const pick = images.filter((i) => !i.liked).slice(0, 4);
  check(pick.length === 4, `need 4 images the demo user has not liked; got ${JSON.stringify(images)}`);
  const [direct, renewed, retried, fallback] = pick;

  const anonFirst = await gallery(anon, 'an anonymous viewer');
  check(anonFirst.structuredContent.viewer.signedIn === false, `anonymous show_gallery should see signedIn=false; got ${JSON.stringify(anonFirst.structuredContent.viewer)}`);
  const anonGrant = anonFirst._meta && anonFirst._meta[TOKEN_KEY];
  check(!anonGrant || !anonGrant.token, `an anonymous show_gallery must carry no widget token; got ${JSON.stringify(anonGrant)}`);

  const calls = [];
  const userBase = await startHarness(user, calls, 'user');
  const anonBase = await startHarness(anon, calls, 'anonymous');
  const browser = await launchChromium(deps);
  cleanups.push(() => browser.close());

  // a. Signed out: counts, the sign-in prompt, and a click that explains itself.
  {
    const w = current = await openWidget(browser, { base: anonBase, bridge: 'mcp-apps', theme: 'light', html: html.mcpApp, result: anonFirst, label: 'signed out' });
    await poll(`${w.where} the viewer line should say "Not signed in" and the sign-in prompt should show`, async () => {
      const viewer = await w.frame.locator('#gl-viewer').innerText();
      const prompt = await w.frame.locator('#gl-signin').isVisible();
      return { ok: viewer.includes('Not signed in') && prompt, got: { viewer, prompt } };
    });
    check((await w.frame.locator('#gl-signin').innerText()).includes('Sign in to like images'), `${w.where} the sign-in prompt text`);
    for (const img of images) {
      const got = await likeState(w, img.title);
      check(got.count === anonFirst.structuredContent.images.find((i) => i.id === img.id).likes && got.pressed === 'false',
        `${w.where} ${img.title} should show its count unliked; got ${JSON.stringify(got)}`);
    }
    const before = await likeState(w, direct.title);
    await card(w, direct.title).button.click();
    await poll(`${w.where} clicking Like signed out should show "Sign in to like images." and keep the count`, async () => {
      const got = await likeState(w, direct.title);
      return { ok: got.error.includes('Sign in to like images') && got.count === before.count && got.pressed === 'false', got };
    });
    check(w.net.length === 0, `${w.where} a signed-out widget has no token, so it must not call the action endpoint; saw ${JSON.stringify(w.net.map((n) => n.url))}`);
    const call = calls.find((c) => c.as === 'anonymous' && c.name === 'like_image');
    // A generic MCP Apps host's client gets the HTTP 401 challenge (ChatGPT would get an
    // isError result): either way the call is refused and the widget shows sign-in.
    const refused = call && (call.isError || /\b401\b|-32001|unauthorized/i.test(String(call.error || '')));
    check(refused, `${w.where} the signed-out click should reach like_image through callTool and be refused; calls: ${JSON.stringify(calls)}`);
    noProblems(w);
    await shot(w, opts.artifacts, 'gallery-signed-out.png');
    summary.steps.signedOut = { ok: true };
  }

  // b + c. Signed in, the real result: direct call, then the same after the token expired.
  const tokenBefore = grant.token;
  {
    const w = current = await openWidget(browser, { base: userBase, bridge: 'mcp-apps', theme: 'light', html: html.mcpApp, result: first, label: 'signed in' });
    await poll(`${w.where} the viewer line should name the user and the sign-in prompt should be hidden`, async () => {
      const viewer = await w.frame.locator('#gl-viewer').innerText();
      const prompt = await w.frame.locator('#gl-signin').isVisible();
      return { ok: viewer.includes(`Signed in as ${summary.user}`) && !prompt, got: { viewer, prompt } };
    });

    let from = w.net.length;
    await clickAndExpect(w, direct.title, { pressed: true, count: direct.likes + 1 }, 'direct like');
    let posts = w.net.slice(from);
    // (A renewed 2 s token can expire again before its POST on a loaded machine: a 401 and
    // one more renewal are then fine; what matters is the direct call's 200.)
    check(posts.length >= 1 && posts.every((n) => n.action === 'like_image' && [200, 401].includes(n.status)) && posts[posts.length - 1].status === 200,
      `${w.where} the like should be a direct POST /widget/actions/like_image answered 200; saw ${JSON.stringify(posts.map(({ req, ...n }) => n))}`);
    check(!calls.some((c) => c.name === 'like_image' && c.as === 'user'), `${w.where} the direct like must not go through callTool like_image`);
    summary.steps.direct = { ok: true, statuses: posts.map((n) => n.status) };

    // The token lives TTL seconds: wait until the one the widget holds has expired.
    const newest = posts[posts.length - 1].token || tokenBefore;
    const waitMs = jwtClaims(newest).exp * 1000 - Date.now() + 1200;
    if (waitMs > 0) await sleep(waitMs);
    from = w.net.length;
    const callsFrom = calls.length;
    const logFrom = (await w.events()).length;
    await clickAndExpect(w, renewed.title, { pressed: true, count: renewed.likes + 1 }, 'like after expiry');
    posts = w.net.slice(from);
    const refresh = calls.slice(callsFrom).filter((c) => c.name === REFRESH_TOOL);
    check(refresh.length >= 1 && refresh.every((c) => !c.isError && !c.error),
      `${w.where} after the token expired, the widget should renew it through ${REFRESH_TOOL}; calls: ${JSON.stringify(calls.slice(callsFrom))}`);
    check(refresh[0].arguments && refresh[0].arguments.token === newest,
      `${w.where} the renewal should present the expired token`);
    const log = (await w.events()).slice(logFrom);
    check(log.some((e) => e.dir === '← widget' && e.what === 'tools/call' && e.detail && e.detail.name === REFRESH_TOOL),
      `${w.where} the host log should show the widget's tools/call ${REFRESH_TOOL}; saw ${JSON.stringify(log.map((e) => e.what))}`);
    const ok = posts.filter((n) => n.status === 200 && n.action === 'like_image');
    check(ok.length === 1 && ok[0].token && ok[0].token !== newest && posts.every((n) => n.status === 200 || n.status === 401),
      `${w.where} after renewal the like should be a direct POST with the new token, answered 200; saw ${JSON.stringify(posts.map(({ req, token, ...n }) => ({ ...n, sameToken: token === newest })))}`);
    check(!calls.slice(callsFrom).some((c) => c.name === 'like_image'), `${w.where} the renewed like must not fall back to callTool`);
    summary.steps.renewedBeforeCall = { ok: true, refreshCalls: refresh.length, status: ok[0].status };
    noProblems(w);
    await shot(w, opts.artifacts, 'gallery-liked.png');
  }

  // d. The host says the token is fresh (expiresAt in the future) but the server says it
  //    expired: 401, one renewal, one retry.
  {
    const result = await gallery(user, 'the user');
    const g = result._meta[TOKEN_KEY];
    const skewed = JSON.parse(JSON.stringify(result));
    skewed._meta[TOKEN_KEY].expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const w = current = await openWidget(browser, { base: userBase, bridge: 'mcp-apps', theme: 'light', html: html.mcpApp, result: skewed, label: 'clock skew' });
    const waitMs = jwtClaims(g.token).exp * 1000 - Date.now() + 1200;
    if (waitMs > 0) await sleep(waitMs);
    const from = w.net.length;
    const callsFrom = calls.length;
    const now = byId(result)[retried.id];
    await clickAndExpect(w, retried.title, { pressed: true, count: now.likes + 1 }, 'like with an expired token the host thinks is fresh');
    const posts = w.net.slice(from).map(({ req, token, ...n }) => ({ ...n, sameToken: token === g.token }));
    const last = posts[posts.length - 1];
    check(posts.length >= 2 && posts[0].status === 401 && posts[0].sameToken && last && last.status === 200 && !last.sameToken,
      `${w.where} expected POST like_image → 401 with the old token, then 200 with a renewed one; saw ${JSON.stringify(posts)}`);
    const refresh = calls.slice(callsFrom).filter((c) => c.name === REFRESH_TOOL);
    check(refresh.length >= 1 && refresh[0].arguments.token === g.token,
      `${w.where} the 401 should make the widget renew the token it holds; calls: ${JSON.stringify(calls.slice(callsFrom))}`);
    check(!calls.slice(callsFrom).some((c) => c.name === 'like_image'), `${w.where} after renewal the like must stay direct (no callTool like_image)`);
    noProblems(w);
    summary.steps.renewedOn401 = { ok: true, statuses: posts.map((p) => p.status) };

    // e. Direct endpoint blocked: the click still works, through callTool.
    let aborted = 0;
    await w.page.route('**/widget/actions/**', (route) => { aborted += 1; return route.abort('blockedbyclient'); });
    const callsFrom2 = calls.length;
    const logFrom = (await w.events()).length;
    const netFrom = w.net.length;
    await clickAndExpect(w, fallback.title, { pressed: true, count: byId(result)[fallback.id].likes + 1 }, 'like with the endpoint blocked');
    check(aborted >= 1, `${w.where} the blocked direct call should have been attempted (and aborted)`);
    const blocked = w.net.slice(netFrom);
    check(blocked.length >= 1 && blocked.every((n) => n.status === null && n.failure),
      `${w.where} every direct call should have failed at the network level; saw ${JSON.stringify(blocked.map(({ req, token, ...n }) => n))}`);
    const log = (await w.events()).slice(logFrom);
    check(log.some((e) => e.dir === '← widget' && e.what === 'tools/call' && e.detail && e.detail.name === 'like_image' && e.detail.arguments && e.detail.arguments.image_id === fallback.id),
      `${w.where} the host log should show the widget's tools/call like_image {image_id: ${fallback.id}}; saw ${JSON.stringify(log.map((e) => [e.what, e.detail && e.detail.name]))}`);
    const via = calls.slice(callsFrom2).find((c) => c.name === 'like_image');
    check(via && !via.isError, `${w.where} the forwarded like_image should succeed; calls: ${JSON.stringify(calls.slice(callsFrom2))}`);
    summary.steps.fallback = { ok: true, aborted };

    // Unlike through the same fallback, then like again, to see both actions work that way.
    await clickAndExpect(w, fallback.title, { pressed: false, count: byId(result)[fallback.id].likes }, 'unlike with the endpoint blocked');
    check(calls.slice(callsFrom2).some((c) => c.name === 'unlike_image' && !c.isError), `${w.where} unlike_image should go through callTool`);
    await clickAndExpect(w, fallback.title, { pressed: true, count: byId(result)[fallback.id].likes + 1 }, 'like again with the endpoint blocked');
    noProblems(w);
    await shot(w, opts.artifacts, 'gallery-fallback.png');
  }

  // Persisted: the user sees the new counts, liked; an anonymous viewer sees the counts.
  const after = byId(await gallery(user, 'the user'));
  const afterAnon = await gallery(anon, 'an anonymous viewer');
  const anonById = byId(afterAnon);
  for (const img of [direct, renewed, retried, fallback]) {
    check(after[img.id].liked === true && after[img.id].likes === img.likes + 1,
      `show_gallery after the clicks: ${img.id} should be liked with ${img.likes + 1} likes; got ${JSON.stringify(after[img.id])}`);
    check(anonById[img.id].liked === false && anonById[img.id].likes === img.likes + 1,
      `anonymous show_gallery: ${img.id} should show ${img.likes + 1} likes, not liked; got ${JSON.stringify(anonById[img.id])}`);
  }
  summary.steps.persisted = { ok: true, likes: Object.fromEntries(Object.values(after).map((i) => [i.id, i.likes])) };
  {
    const w = current = await openWidget(browser, { base: anonBase, bridge: 'mcp-apps', theme: 'light', html: html.mcpApp, result: afterAnon, label: 'signed out, after' });
    for (const img of [direct, renewed, retried, fallback]) {
      await poll(`${w.where} ${img.title} should show ${img.likes + 1} likes to a signed-out viewer`, async () => {
        const got = await likeState(w, img.title);
        return { ok: got.count === img.likes + 1 && got.pressed === 'false', got };
      });
    }
    check(await w.frame.locator('#gl-signin').isVisible(), `${w.where} the sign-in prompt should show`);
    noProblems(w);
  }

  // The window.openai bridge, dark: a direct unlike and like.
  {
    const result = await gallery(user, 'the user');
    const w = current = await openWidget(browser, { base: userBase, bridge: 'openai', theme: 'dark', html: html.skybridge, result, label: 'openai' });
    const n = byId(result)[direct.id].likes;
    const from = w.net.length;
    await clickAndExpect(w, direct.title, { pressed: false, count: n - 1 }, 'unlike through window.openai');
    await clickAndExpect(w, direct.title, { pressed: true, count: n }, 'like through window.openai');
    const posts = w.net.slice(from);
    check(posts.filter((p) => p.status === 200).map((p) => p.action).join(',') === 'unlike_image,like_image',
      `${w.where} both clicks should be direct calls answered 200; saw ${JSON.stringify(posts.map(({ req, token, ...p }) => p))}`);
    const events = await w.events();
    check(events.some((e) => e.what === 'openai.callTool' && e.detail && e.detail.name === REFRESH_TOOL),
      `${w.where} renewal should go through window.openai.callTool(${REFRESH_TOOL})`);
    const attr = await w.frame.locator('html').getAttribute('data-theme');
    check(attr === 'dark', `${w.where} the widget should be dark; html[data-theme]=${attr}`);
    noProblems(w);
    await shot(w, opts.artifacts, 'gallery-openai-dark.png');
    summary.steps.openai = { ok: true };
  }
  current = null;
  summary.ok = true;
  return opts;
}

try {
  summary.artifacts = parseArgs(process.argv.slice(2), ARGS).artifacts;
} catch (_) { /* reported by main */ }
runDriver({
  name: 'gallery_browser',
  summary,
  overallMs: OVERALL_MS,
  main,
  async onFailure() {
    if (current) {
      const file = path.join(summary.artifacts || DEFAULT_ARTIFACTS, 'gallery-failure.png');
      await Promise.race([current.page.screenshot({ path: file }).catch(() => {}), sleep(3000)]);
      if (current.problems.length) summary.error += ` (page: ${current.problems.join(' | ')})`;
    }
  },
});
