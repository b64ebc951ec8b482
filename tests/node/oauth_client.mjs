#!/usr/bin/env node
// OAuth interop client built on the official MCP TypeScript SDK
// (@modelcontextprotocol/sdk): the SDK's OAuth client signs in to a Widgetry
// app's embedded authorization server, calls the protected `protected-widget`
// tool, refreshes its tokens, calls it again, and prints ONE JSON line on
// stdout (same fields as tests/interop/py_oauth_client.py). Any failure,
// including the overall timeout, exits non-zero with the error on stderr and
// nothing on stdout.
//
// The sign-in run (no --token-file, or the file does not exist yet), with the
// server's default settings:
//   1. ChatGPT-shaped check, on a connection of its own without an
//      authProvider: an anonymous `tools/call` of `protected-widget` whose
//      params carry `_meta: {"openai/locale": "en-US"}` gets a tool result with
//      `isError: true` and the challenge in `_meta["mcp/www_authenticate"]`.
//   2. The SDK's own way: StreamableHTTPClientTransport with an authProvider
//      that holds no tokens. `initialize` passes anonymously (the showcase is
//      a mixed server); `callTool` of `protected-widget` gets an HTTP 401 with
//      `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`, and the
//      transport runs the SDK's `auth()` by itself: protected-resource
//      metadata, authorization-server metadata, dynamic registration, PKCE;
//      the provider's redirectToAuthorization plays the user's browser with
//      fetch (manual redirects, cookie, the sign-in form with its CSRF field,
//      the consent form) and captures the redirect to
//      http://127.0.0.1:<port>/callback. The call then rejects with the SDK's
//      UnauthorizedError; as in the SDK's examples, the client finishes with
//      `transport.finishAuth(code)` (the code exchange) and reconnects with
//      the tokens.
//   3. Lists the tools and calls `protected-widget`.
//   4. Refresh: the SDK refreshes when the server refuses its access token
//      with a 401. The client makes its stored access token unusable (one
//      signature character changed, as an expired token would be refused),
//      calls again; the transport gets `401 invalid_token`, runs `auth()`,
//      which refreshes with the refresh token, and retries the call.
//
// The resume run (--token-file exists): loads tokens, client registration and
// discovery state from the file, calls with the stored access token, then
// forces a refresh as above. It never signs in (`signIns` says so).
//
// Usage:
//   node tests/node/oauth_client.mjs --url http://127.0.0.1:PORT/mcp \
//        --email demo@widgetry.dev --password PASSWORD \
//        [--scope "user read:data"] [--token-file PATH] [--message hi]
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const TIMEOUT_MS = 40_000;
const TOOL = "protected-widget";

function usage(message) {
  process.stderr.write(
    `oauth_client: ${message}\n` +
      "usage: oauth_client.mjs --url URL --email EMAIL --password PASSWORD [--scope S] [--token-file PATH] [--message M]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { scope: "user read:data", message: "hi" };
  const flags = ["--url", "--email", "--password", "--scope", "--token-file", "--message"];
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!flags.includes(flag)) usage(`unknown argument ${flag}`);
    if (argv[i + 1] === undefined) usage(`${flag} needs a value`);
    opts[flag.slice(2).replace(/-(.)/g, (_, c) => c.toUpperCase())] = argv[i + 1];
  }
  for (const required of ["url", "email", "password"]) if (!opts[required]) usage(`--${required} is required`);
  const url = new URL(opts.url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) usage("--url must be a loopback URL");
  return { ...opts, url };
}

function sdkVersion() {
  try {
    const require = createRequire(import.meta.url);
    const main = require.resolve("@modelcontextprotocol/sdk/client/index.js");
    const pkg = main.slice(0, main.lastIndexOf("/dist/")) + "/package.json";
    return JSON.parse(readFileSync(pkg, "utf8")).version;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- the "browser"

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'", apos: "'" };
const decode = (s) => s.replace(/&(amp|lt|gt|quot|#39|apos);/g, (_, e) => ENTITIES[e]);

function attributes(tag) {
  const attrs = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>=`]+)))?/g;
  const body = tag.replace(/^<\s*[a-zA-Z]+/, "").replace(/\/?>$/, "");
  for (const m of body.matchAll(re)) attrs[m[1].toLowerCase()] = decode(m[2] ?? m[3] ?? m[4] ?? "");
  return attrs;
}

/** The forms of a page: action, method, inputs, buttons. */
function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)) {
    const form = attributes(m[0].slice(0, m[0].indexOf(">") + 1));
    const inputs = [...m[1].matchAll(/<input\b[^>]*>/gi)].map((t) => attributes(t[0]));
    const buttons = [...m[1].matchAll(/<button\b[^>]*>/gi)].map((t) => attributes(t[0]));
    forms.push({ action: form.action ?? "", method: (form.method ?? "get").toLowerCase(), inputs, buttons });
  }
  return forms;
}

function pageProblem(page) {
  const alerts = [...page.html.matchAll(/<p[^>]*role="alert"[^>]*>([\s\S]*?)<\/p>/gi)].map((m) => decode(m[1]));
  return `HTTP ${page.status} from ${page.url}: ${alerts.join("; ") || page.html.slice(0, 300)}`;
}

/** Follows the authorization URL as a user's browser would; returns the callback's query. */
async function browserAuthorize(authorizationUrl, { email, password, redirectUri, log }) {
  const jar = new Map();
  const steps = [];
  const isRedirect = (s) => [301, 302, 303, 307, 308].includes(s);
  const request = async (url, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    if (jar.size) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    const cookies = res.headers.getSetCookie?.() ?? [res.headers.get("set-cookie")].filter(Boolean);
    for (const c of cookies) {
      const pair = c.split(";")[0];
      const eq = pair.indexOf("=");
      if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const u = new URL(url);
    log.push({ by: "browser", method: init.method ?? "GET", host: u.host, path: u.pathname, status: res.status });
    return res;
  };
  const callback = (url) => {
    steps.push("redirect to callback");
    const query = Object.fromEntries(new URL(url).searchParams);
    if (query.error) throw new Error(`authorization refused: ${JSON.stringify(query)}`);
    return { callback: query };
  };
  const get = async (url) => {
    for (let i = 0; i < 10; i += 1) {
      if (url.startsWith(redirectUri)) return callback(url);
      const res = await request(url);
      if (isRedirect(res.status)) {
        url = new URL(res.headers.get("location"), url).href;
        continue;
      }
      return { status: res.status, url, html: await res.text() };
    }
    throw new Error("too many redirects");
  };
  const submit = async (page, form, data) => {
    if (form.method !== "post") throw new Error(`form method ${form.method}, expected post`);
    const action = new URL(form.action || page.url, page.url).href;
    const res = await request(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data).toString(),
    });
    if (isRedirect(res.status)) {
      const location = new URL(res.headers.get("location"), action).href;
      return location.startsWith(redirectUri) ? callback(location) : get(location);
    }
    return { status: res.status, url: action, html: await res.text() };
  };
  const formWith = (page, pred) => {
    if (page.status !== 200) throw new Error(pageProblem(page));
    const form = parseForms(page.html).find(pred);
    if (!form) throw new Error(`expected form not found: ${pageProblem(page)}`);
    return form;
  };
  const hidden = (form) =>
    Object.fromEntries(form.inputs.filter((i) => i.type === "hidden" && i.name).map((i) => [i.name, i.value ?? ""]));

  let page = await get(authorizationUrl);
  if (page.callback) throw new Error("the authorization URL redirected straight back without a sign-in page");
  // Sign-in page.
  let form = formWith(page, (f) => f.inputs.some((i) => i.type === "password"));
  steps.push("sign-in form");
  let data = hidden(form);
  const passwordField = form.inputs.find((i) => i.type === "password").name;
  const userField = form.inputs.find((i) => ["text", "email", undefined].includes(i.type) && i.name)?.name;
  if (!userField) throw new Error(`the sign-in form has no username field: ${JSON.stringify(form)}`);
  data[userField] = email;
  data[passwordField] = password;
  page = await submit(page, form, data);
  // Consent page.
  if (!page.callback) {
    form = formWith(page, (f) => [...f.buttons, ...f.inputs].some((b) => b.value === "allow"));
    steps.push("consent form");
    data = hidden(form);
    const allow = [...form.buttons, ...form.inputs].find((b) => b.value === "allow");
    data[allow.name || "decision"] = "allow";
    page = await submit(page, form, data);
  }
  if (!page.callback) throw new Error(`consent did not redirect back to the client: ${pageProblem(page)}`);
  return { query: page.callback, steps };
}

// ---------------------------------------------------------------- the provider

/** The SDK's OAuthClientProvider, in memory (optionally seeded from a token file). */
class Provider {
  constructor({ redirectUri, scope, email, password, log }) {
    this.redirectUri = redirectUri;
    this.scope = scope;
    this.email = email;
    this.password = password;
    this.log = log;
    this.data = { tokens: undefined, clientInformation: undefined, discovery: undefined };
    this.signIns = 0;
    this.browserSteps = [];
    this.authorizationResponse = null;
    this.code = undefined;
    this.invalidated = [];
  }

  get redirectUrl() {
    return this.redirectUri;
  }

  get clientMetadata() {
    return {
      client_name: "widgetry-ts-oauth-interop",
      redirect_uris: [this.redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: this.scope,
    };
  }

  state() {
    this._state = randomBytes(24).toString("base64url");
    return this._state;
  }

  clientInformation() {
    return this.data.clientInformation;
  }

  saveClientInformation(info) {
    this.data.clientInformation = info;
  }

  tokens() {
    return this.data.tokens;
  }

  saveTokens(tokens) {
    this.data.tokens = tokens;
  }

  async redirectToAuthorization(authorizationUrl) {
    this.signIns += 1;
    const { query, steps } = await browserAuthorize(authorizationUrl.href, {
      email: this.email,
      password: this.password,
      redirectUri: this.redirectUri,
      log: this.log,
    });
    this.browserSteps = steps;
    const sent = Object.fromEntries(authorizationUrl.searchParams);
    this.authorizationResponse = {
      iss: query.iss ?? null,
      stateMatches: query.state === this._state,
      requested: Object.fromEntries(
        ["redirect_uri", "code_challenge_method", "resource", "scope"].filter((k) => k in sent).map((k) => [k, sent[k]]),
      ),
    };
    if (query.state !== this._state) throw new Error(`state mismatch: sent ${this._state}, got ${query.state}`);
    this.code = query.code;
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }

  discoveryState() {
    return this.data.discovery;
  }

  saveDiscoveryState(state) {
    this.data.discovery = state;
  }

  invalidateCredentials(scope) {
    this.invalidated.push(scope);
    if (scope === "all" || scope === "tokens") this.data.tokens = undefined;
    if (scope === "all" || scope === "client") this.data.clientInformation = undefined;
    if (scope === "all" || scope === "discovery") this.data.discovery = undefined;
    if (scope === "all" || scope === "verifier") this.verifier = undefined;
  }

  takeCode() {
    const code = this.code;
    this.code = undefined;
    if (!code) throw new Error("no authorization code was captured");
    return code;
  }
}

// ---------------------------------------------------------------- the flow

/** `fetch` that records each request in `log`; the SDK uses it for its OAuth requests too. */
function loggingFetch(log, mcpUrl, by = "sdk") {
  return async (input, init = {}) => {
    const res = await fetch(input, init);
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const entry = { by, method: init.method ?? "GET", host: url.host, path: url.pathname, status: res.status };
    if (url.pathname === mcpUrl.pathname) {
      entry.bearer = (new Headers(init.headers ?? {}).get("authorization") ?? "").startsWith("Bearer ");
      if (res.status === 401 || res.status === 403) entry.www_authenticate = res.headers.get("www-authenticate");
    }
    if (url.pathname.endsWith("/token") && init.body) {
      const body = init.body instanceof URLSearchParams ? init.body : new URLSearchParams(String(init.body));
      entry.grant_type = body.get("grant_type");
    }
    log.push(entry);
    return res;
  };
}

async function connect(url, provider, fetchFn) {
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: fetchFn });
  let protocolVersion = null;
  const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (version) => {
    protocolVersion = version;
    setProtocolVersion?.(version);
  };
  const client = new Client({ name: "widgetry-ts-oauth-interop", version: "0.1.0" }, { capabilities: {} });
  await client.connect(transport);
  return { client, transport, protocolVersion: () => protocolVersion };
}

async function callTool(client, message) {
  const r = await client.callTool({ name: TOOL, arguments: { message } });
  const text = (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join(" ");
  return { isError: r.isError ?? false, structuredContent: r.structuredContent ?? null, text, _meta: r._meta ?? null };
}

async function listTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

/** An access token the server will refuse, as it refuses an expired one. */
function spoil(token) {
  const i = token.length - 12;
  return token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
}

/** An anonymous tools/call as ChatGPT sends it (`openai/*` in `_meta`), on a connection of its own. */
async function chatgptChallenge(opts, log) {
  const transport = new StreamableHTTPClientTransport(opts.url, { fetch: loggingFetch(log, opts.url, "chatgpt") });
  const client = new Client({ name: "widgetry-ts-oauth-interop", version: "0.1.0" }, { capabilities: {} });
  await client.connect(transport);
  try {
    const r = await client.callTool({
      name: TOOL,
      arguments: { message: opts.message },
      _meta: { "openai/locale": "en-US" },
    });
    const text = (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join(" ");
    return { isError: r.isError ?? false, text, wwwAuthenticate: r._meta?.["mcp/www_authenticate"] ?? [] };
  } finally {
    await transport.terminateSession?.().catch(() => {});
    await client.close().catch(() => {});
  }
}

async function authorizedSession(opts, provider, fetchFn, log, out, storedFirst) {
  const { client, protocolVersion } = await connect(opts.url, provider, fetchFn);
  try {
    out.protocolVersion = protocolVersion();
    out.tools = await listTools(client);
    out[storedFirst ? "storedTokenCall" : "first"] = await callTool(client, opts.message);

    const before = provider.tokens();
    const refreshes = (okOnly) =>
      log.filter((t) => t.grant_type === "refresh_token" && (!okOnly || t.status === 200)).length;
    const requestsBefore = refreshes(false);
    const logBefore = log.length;
    provider.saveTokens({ ...before, access_token: spoil(before.access_token) });
    out.afterRefresh = await callTool(client, `${opts.message} again`);
    const after = provider.tokens();
    out.refresh = {
      requests: refreshes(false) - requestsBefore,
      ok: refreshes(true) > 0 && after?.access_token !== spoil(before.access_token),
      accessTokenChanged: !!after && after.access_token !== before.access_token && after.access_token !== spoil(before.access_token),
      refreshTokenRotated: !!after?.refresh_token && after.refresh_token !== before.refresh_token,
      expiresIn: after?.expires_in ?? null,
      rejectedWith: log.slice(logBefore).some((t) => t.by === "sdk" && t.path === opts.url.pathname && t.status === 401)
        ? 401
        : null,
    };
  } finally {
    await client.close().catch(() => {});
  }
}

async function run(opts) {
  const log = [];
  const fetchFn = loggingFetch(log, opts.url);
  const redirectUri = `http://127.0.0.1:${opts.url.port || 80}/callback`;
  const provider = new Provider({ redirectUri, scope: opts.scope, email: opts.email, password: opts.password, log });
  const resume = !!opts.tokenFile && existsSync(opts.tokenFile);
  const out = { sdk: "@modelcontextprotocol/sdk (typescript)", sdkVersion: sdkVersion(), mode: resume ? "resume" : "sign-in" };

  if (resume) {
    const saved = JSON.parse(readFileSync(opts.tokenFile, "utf8"));
    provider.data = { tokens: saved.tokens, clientInformation: saved.clientInformation, discovery: saved.discovery };
    await authorizedSession(opts, provider, fetchFn, log, out, true);
  } else {
    // 1. ChatGPT-shaped: the tool-level challenge.
    out.chatgpt = await chatgptChallenge(opts, log);

    // 2. The SDK's own way: the protected call gets a 401 and the transport runs auth().
    const anon = await connect(opts.url, provider, fetchFn);
    let unauthorized;
    try {
      const result = await callTool(anon.client, opts.message);
      throw new Error(`the anonymous call of ${TOOL} did not get an HTTP 401: ${JSON.stringify(result)}`);
    } catch (e) {
      if (!(e instanceof UnauthorizedError)) throw e;
      unauthorized = e;
    }
    if (provider.signIns !== 1) throw new Error(`the SDK did not sign in on the 401 (${provider.signIns} sign-ins)`);
    try {
      await anon.transport.finishAuth(provider.takeCode());
    } finally {
      await anon.client.close().catch(() => {});
    }
    if (!provider.tokens()?.access_token) throw new Error("finishAuth stored no access token");
    const refusal = log.find((t) => t.by === "sdk" && t.path === opts.url.pathname && t.status === 401);
    if (!refusal) throw new Error(`no HTTP 401 from the MCP endpoint in ${JSON.stringify(log)}`);
    out.anonymous = {
      status: refusal.status,
      bearer: refusal.bearer,
      wwwAuthenticate: refusal.www_authenticate,
      error: unauthorized.constructor.name,
    };
    out.challenge = refusal.www_authenticate;

    // 3-4. Reconnect with the tokens; protected call; refresh.
    await authorizedSession(opts, provider, fetchFn, log, out, false);
  }

  const tokens = provider.tokens();
  Object.assign(out, {
    signIns: provider.signIns,
    browserSteps: provider.browserSteps,
    authorizationResponse: provider.authorizationResponse,
    clientId: provider.clientInformation()?.client_id ?? null,
    scope: tokens?.scope ?? null,
    hasRefreshToken: !!tokens?.refresh_token,
    invalidated: provider.invalidated,
    traffic: log,
  });
  if (opts.tokenFile) {
    const tmp = `${opts.tokenFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ tokens, clientInformation: provider.clientInformation(), discovery: provider.discoveryState() }, null, 2));
    renameSync(tmp, opts.tokenFile);
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const timer = setTimeout(() => {
  process.stderr.write(`oauth_client: timed out after ${TIMEOUT_MS / 1000} s\n`);
  process.exit(1);
}, TIMEOUT_MS);
try {
  const out = await run(opts);
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
} catch (e) {
  clearTimeout(timer);
  process.stderr.write(`oauth_client: ${e?.stack ?? e}\n`);
  process.exit(1);
}
