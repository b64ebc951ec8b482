#!/usr/bin/env python3
"""OAuth interop client built on the official MCP Python SDK (`mcp` on PyPI).

Signs in to a Widgetry app's embedded authorization server with the SDK's own
OAuth client (`mcp.client.auth.OAuthClientProvider`) over Streamable HTTP, calls
the protected `protected-widget` tool, refreshes the tokens, calls it again, and
prints ONE JSON line on stdout (see `_run`). Any failure, including the
overall timeout, exits non-zero with the error on stderr and nothing on stdout.

The sign-in run (no --token-file, or the file does not exist yet), with the
server's default settings:

1. ChatGPT-shaped check, on a session of its own without any auth: an anonymous
   `tools/call` of `protected-widget` whose params carry
   `_meta: {"openai/locale": "en-US"}` (how ChatGPT identifies itself) gets a
   tool result with `isError: true` and the RFC 6750 challenge in
   `_meta["mcp/www_authenticate"]`, not an HTTP 401.
2. The SDK's own way: a Streamable HTTP session whose httpx client has
   `auth=OAuthClientProvider(...)`. `initialize` passes anonymously (the
   showcase is a mixed server: public and protected tools); `call_tool` of
   `protected-widget` gets an HTTP 401 with
   `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`, and the SDK's
   provider takes it from there by itself: protected-resource metadata from the
   challenge's `resource_metadata`, authorization-server metadata, dynamic
   client registration, PKCE authorize, token exchange, and the retry of the
   call with its new access token, which succeeds. Its `redirect_handler` plays
   the user's browser with httpx against the loopback server: GET the
   authorization URL, fill in and POST the sign-in form (CSRF field, cookie),
   approve the consent form, and capture the redirect to
   `http://127.0.0.1:<port>/callback?code=…&state=…&iss=…`; `callback_handler`
   returns `(code, state)` (no callback listener needed).
3. Lists the tools on the same, now signed-in, session.
4. Refresh: the SDK refreshes when it knows the access token has expired, so the
   client marks it expired (`token_expiry_time` in the past); the SDK's next
   request goes to the token endpoint with `grant_type=refresh_token` first.
   Then calls `protected-widget` again with the new access token.

The resume run (--token-file exists, written by an earlier run): loads the
tokens, the client registration and the discovered metadata from the file (an
app persists these; the SDK keeps metadata in memory only, and without it would
refresh at `<origin>/token`), calls `protected-widget` with the stored access
token, lists the tools, then forces a refresh as above and calls again. It never
signs in: the JSON reports `signIns` so a test can assert 0.

With --token-file, the tokens, registration and metadata are written back at the
end of every successful run.

Usage:
    python tests/interop/py_oauth_client.py --url http://127.0.0.1:PORT/mcp \
        --email demo@widgetry.dev --password PASSWORD \
        [--scope "user read:data"] [--token-file PATH] [--message hi]

Only loopback is contacted: the MCP URL's origin, which is also the issuer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from html.parser import HTMLParser
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import anyio
import httpx

TIMEOUT_SECONDS = 40
TOOL = "protected-widget"


# --------------------------------------------------------------------------- helpers


def _leaf_errors(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaf_errors(inner)]
    return [exc]


def _dump(model: Any) -> Any:
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return model


def _fail(msg: str) -> None:
    raise RuntimeError(msg)


# --------------------------------------------------------------------------- storage


class MemoryTokenStorage:
    """The SDK's `TokenStorage` protocol, in memory (optionally seeded from a file)."""

    def __init__(self) -> None:
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info) -> None:
        self.client_info = client_info


# --------------------------------------------------------------------------- the "browser"


class _Forms(HTMLParser):
    """Collects the forms of a page: action, method, inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.alerts: list[str] = []
        self._alert_depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "inputs": [], "buttons": []}
            )
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(a)
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(a)
        if a.get("role") == "alert" or "error" in a.get("class", "").split():
            self._alert_depth += 1
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self._alert_depth and tag in ("p", "div"):
            self._alert_depth -= 1
            self.alerts.append("".join(self._text).strip())

    def handle_data(self, data: str) -> None:
        if self._alert_depth:
            self._text.append(data)


def _parse_forms(html: str) -> _Forms:
    p = _Forms()
    p.feed(html)
    return p


def _page_problem(resp: httpx.Response) -> str:
    forms = _parse_forms(resp.text)
    alerts = "; ".join(a for a in forms.alerts if a) or resp.text[:300]
    return f"HTTP {resp.status_code} from {resp.request.url}: {alerts}"


class Browser:
    """What a user's browser does with the authorization URL: pages, forms, cookies."""

    def __init__(self, email: str, password: str, redirect_uri: str, log: list[dict[str, Any]]) -> None:
        self.email = email
        self.password = password
        self.redirect_uri = redirect_uri
        self.log = log
        self.steps: list[str] = []

    async def _hook(self, response: httpx.Response) -> None:
        self.log.append(
            {
                "by": "browser",
                "method": response.request.method,
                "host": f"{response.request.url.host}:{response.request.url.port}",
                "path": response.request.url.path,
                "status": response.status_code,
            }
        )

    async def authorize(self, authorization_url: str) -> dict[str, str]:
        """Follows the authorization URL to the redirect back to the client; returns its query."""
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=15, event_hooks={"response": [self._hook]}
        ) as http:
            resp = await self._get(http, authorization_url)
            if not isinstance(resp, httpx.Response):
                _fail(f"the authorization URL redirected straight back without a sign-in page: {resp}")
            # Sign-in page.
            form = self._form_with(resp, lambda f: any(i.get("type") == "password" for i in f["inputs"]))
            self.steps.append("sign-in form")
            data = self._hidden(form)
            password_field = next(i["name"] for i in form["inputs"] if i.get("type") == "password")
            user_field = next(
                (
                    i["name"]
                    for i in form["inputs"]
                    if i.get("type", "text") in ("text", "email") and i.get("name")
                ),
                None,
            )
            if user_field is None:
                _fail(f"the sign-in form has no username field: {form}")
            data[user_field] = self.email
            data[password_field] = self.password
            resp = await self._submit(http, resp, form, data)
            # Consent page (a second-factor page would come first for a TOTP user).
            if isinstance(resp, httpx.Response):
                form = self._form_with(
                    resp, lambda f: any(b.get("value") == "allow" for b in f["buttons"] + f["inputs"])
                )
                self.steps.append("consent form")
                data = self._hidden(form)
                allow = next(b for b in form["buttons"] + form["inputs"] if b.get("value") == "allow")
                data[allow.get("name") or "decision"] = "allow"
                resp = await self._submit(http, resp, form, data)
            if isinstance(resp, httpx.Response):
                _fail("consent did not redirect back to the client: " + _page_problem(resp))
            return resp

    def _form_with(self, resp: httpx.Response, pred) -> dict[str, Any]:
        if resp.status_code != 200:
            _fail(_page_problem(resp))
        forms = _parse_forms(resp.text)
        for f in forms.forms:
            if pred(f):
                return f
        _fail("expected form not found: " + _page_problem(resp))
        raise AssertionError  # unreachable

    @staticmethod
    def _hidden(form: dict[str, Any]) -> dict[str, str]:
        return {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("type") == "hidden" and i.get("name")}

    async def _get(self, http: httpx.AsyncClient, url: str):
        """GETs `url`, following redirects; returns the page, or the callback query (a dict)."""
        for _ in range(10):
            if url.startswith(self.redirect_uri):
                return self._callback(url)
            resp = await http.get(url)
            if resp.status_code in (301, 302, 303, 307, 308):
                url = urljoin(str(resp.url), resp.headers["location"])
                continue
            return resp
        _fail("too many redirects")

    async def _submit(self, http: httpx.AsyncClient, page: httpx.Response, form: dict[str, Any], data: dict[str, str]):
        if form["method"] != "post":
            _fail(f"form method {form['method']!r}, expected post")
        action = urljoin(str(page.url), form["action"] or str(page.url))
        resp = await http.post(action, data=data)
        if resp.status_code in (301, 302, 303, 307, 308):
            location = urljoin(str(resp.url), resp.headers["location"])
            if location.startswith(self.redirect_uri):
                return self._callback(location)
            return await self._get(http, location)
        return resp

    def _callback(self, url: str) -> dict[str, str]:
        self.steps.append("redirect to callback")
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        if "error" in query:
            _fail(f"authorization refused: {query}")
        return query


# --------------------------------------------------------------------------- the flow


class Run:
    def __init__(self, opts: argparse.Namespace) -> None:
        from mcp.client.auth import OAuthClientProvider
        from mcp.shared.auth import OAuthClientMetadata

        self.opts = opts
        parsed = urlparse(opts.url)
        self.origin = f"{parsed.scheme}://{parsed.netloc}"
        self.redirect_uri = f"http://127.0.0.1:{parsed.port or 80}/callback"
        self.traffic: list[dict[str, Any]] = []
        self.storage = MemoryTokenStorage()
        self.sign_ins = 0
        self.browser_steps: list[str] = []
        self.authorization_response: dict[str, Any] | None = None
        self._pending: tuple[str, str | None] | None = None
        self.provider = OAuthClientProvider(
            server_url=opts.url,
            client_metadata=OAuthClientMetadata(
                client_name="widgetry-py-oauth-interop",
                redirect_uris=[self.redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
                scope=opts.scope,
            ),
            storage=self.storage,
            redirect_handler=self._redirect_handler,
            callback_handler=self._callback_handler,
            timeout=30,
        )

    # The SDK calls these two during its authorization step.
    async def _redirect_handler(self, authorization_url: str) -> None:
        self.sign_ins += 1
        browser = Browser(self.opts.email, self.opts.password, self.redirect_uri, self.traffic)
        query = await browser.authorize(authorization_url)
        self.browser_steps = browser.steps
        sent = parse_qs(urlparse(authorization_url).query)
        self.authorization_response = {
            "iss": query.get("iss"),
            "stateMatches": query.get("state") == sent.get("state", [None])[0],
            "requested": {k: v[0] for k, v in sent.items() if k in ("scope", "resource", "code_challenge_method", "redirect_uri")},
        }
        self._pending = (query.get("code", ""), query.get("state"))

    async def _callback_handler(self) -> tuple[str, str | None]:
        if self._pending is None:
            _fail("the callback handler ran before the redirect handler")
        pending, self._pending = self._pending, None
        return pending

    def _logger(self, by: str):
        """An httpx response hook that records each request (the SDK's own included: httpx runs
        the hook for every request an auth flow sends) in `traffic`."""
        mcp_path = urlparse(self.opts.url).path

        async def log(response: httpx.Response) -> None:
            req = response.request
            entry: dict[str, Any] = {
                "by": by,
                "method": req.method,
                "host": f"{req.url.host}:{req.url.port}",
                "path": req.url.path,
                "status": response.status_code,
            }
            if req.url.path == mcp_path:
                entry["bearer"] = req.headers.get("authorization", "").startswith("Bearer ")
                if response.status_code in (401, 403):
                    entry["www_authenticate"] = response.headers.get("www-authenticate")
            if req.method == "POST" and req.url.path.endswith("/token"):
                try:
                    entry["grant_type"] = parse_qs(req.content.decode())["grant_type"][0]
                except Exception:  # noqa: BLE001 - a log detail only
                    pass
            self.traffic.append(entry)

        return log

    def _http(self, auth: Any, by: str = "sdk") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(15, read=30),
            follow_redirects=False,
            event_hooks={"response": [self._logger(by)]},
        )

    def _transport(self, http: httpx.AsyncClient):
        try:
            from mcp.client.streamable_http import streamable_http_client
        except ImportError:  # mcp < 1.24
            from mcp.client.streamable_http import streamablehttp_client

            return streamablehttp_client(self.opts.url, auth=http.auth)
        return streamable_http_client(self.opts.url, http_client=http)

    async def _call(self, session, message: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        if meta is None:
            result = await session.call_tool(TOOL, {"message": message})
        else:
            result = await session.call_tool(TOOL, {"message": message}, meta=meta)
        d = _dump(result)
        return {
            "isError": d.get("isError", False),
            "structuredContent": d.get("structuredContent"),
            "text": " ".join(c.get("text", "") for c in d.get("content", []) if c.get("type") == "text"),
            "_meta": d.get("_meta"),
        }

    # -- step 1: a ChatGPT-shaped anonymous call gets the tool-level challenge
    async def chatgpt_challenge(self) -> dict[str, Any]:
        """An anonymous `tools/call` whose `_meta` has an `openai/*` key, on a session of its own
        with no auth at all: the server should answer with a tool result (`isError` and
        `_meta["mcp/www_authenticate"]`), which is what ChatGPT reads, not an HTTP 401."""
        from mcp import ClientSession

        async with self._http(None, by="chatgpt") as http, self._transport(http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                result = await self._call(session, self.opts.message, meta={"openai/locale": "en-US"})
        challenges = (result.get("_meta") or {}).get("mcp/www_authenticate") or []
        return {"isError": result["isError"], "text": result["text"], "wwwAuthenticate": challenges}

    # -- steps 2-4 (sign-in run) or the resume run: one session with the SDK's OAuth provider
    async def session(self, stored_first: bool) -> dict[str, Any]:
        """On a sign-in run the first `call_tool` gets HTTP 401 and the SDK's provider signs in
        and retries it by itself; on a resume run it goes out with the stored access token."""
        from mcp import ClientSession

        out: dict[str, Any] = {}
        async with self._http(self.provider) as http, self._transport(http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                init = await session.initialize()
                out["protocolVersion"] = getattr(init, "protocolVersion", None)
                sign_ins_before = self.sign_ins
                out["storedTokenCall" if stored_first else "first"] = await self._call(session, self.opts.message)
                if not stored_first and self.sign_ins == sign_ins_before:
                    _fail(f"the SDK did not sign in for {TOOL}: {self.traffic}")
                if not (self.storage.tokens and self.storage.tokens.access_token):
                    _fail("the SDK's OAuth flow stored no access token")

                tools: list[str] = []
                cursor = None
                while True:
                    page = await (session.list_tools(cursor=cursor) if cursor else session.list_tools())
                    tools.extend(t.name for t in page.tools)
                    cursor = getattr(page, "nextCursor", None)
                    if not cursor:
                        break
                out["tools"] = tools

                before = self.storage.tokens
                refreshes_before = self._refreshes()
                # The access token "expires": the SDK refreshes before its next request.
                self.provider.context.token_expiry_time = time.time() - 1
                out["afterRefresh"] = await self._call(session, self.opts.message + " again")
                after = self.storage.tokens
                out["refresh"] = {
                    "requests": self._refreshes() - refreshes_before,
                    "ok": self._refreshes(ok_only=True) > 0 and after is not None and after is not before,
                    "accessTokenChanged": bool(after and before and after.access_token != before.access_token),
                    "refreshTokenRotated": bool(
                        after and before and after.refresh_token and after.refresh_token != before.refresh_token
                    ),
                    "expiresIn": getattr(after, "expires_in", None),
                }
        return out

    def anonymous(self) -> dict[str, Any] | None:
        """The MCP endpoint's refusal that started the SDK's sign-in: the first 401 to the SDK."""
        for t in self.traffic:
            if t["by"] == "sdk" and "www_authenticate" in t and t["status"] == 401:
                return {
                    "status": t["status"],
                    "bearer": t.get("bearer"),
                    "wwwAuthenticate": t["www_authenticate"],
                }
        return None

    def _refreshes(self, ok_only: bool = False) -> int:
        return sum(
            1
            for t in self.traffic
            if t.get("grant_type") == "refresh_token" and (not ok_only or t["status"] == 200)
        )

    # -- the token file
    def load(self, path: Path) -> None:
        from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken, ProtectedResourceMetadata

        saved = json.loads(path.read_text())
        self.storage.tokens = OAuthToken.model_validate(saved["tokens"])
        self.storage.client_info = OAuthClientInformationFull.model_validate(saved["client_info"])
        ctx = self.provider.context
        if saved.get("oauth_metadata"):
            ctx.oauth_metadata = OAuthMetadata.model_validate(saved["oauth_metadata"])
        if saved.get("protected_resource_metadata"):
            ctx.protected_resource_metadata = ProtectedResourceMetadata.model_validate(saved["protected_resource_metadata"])
            servers = ctx.protected_resource_metadata.authorization_servers
            if servers:
                ctx.auth_server_url = str(servers[0])
        ctx.token_expiry_time = saved.get("expires_at")

    def save(self, path: Path) -> None:
        ctx = self.provider.context
        doc = {
            "tokens": _dump(self.storage.tokens),
            "expires_at": ctx.token_expiry_time,
            "client_info": _dump(self.storage.client_info),
            "oauth_metadata": _dump(ctx.oauth_metadata) if ctx.oauth_metadata else None,
            "protected_resource_metadata": _dump(ctx.protected_resource_metadata)
            if ctx.protected_resource_metadata
            else None,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(path)


async def _run(opts: argparse.Namespace) -> dict[str, Any]:
    run = Run(opts)
    token_file = Path(opts.token_file) if opts.token_file else None
    resume = token_file is not None and token_file.exists()
    out: dict[str, Any] = {
        "sdk": "mcp (python)",
        "sdkVersion": importlib_metadata.version("mcp"),
        "mode": "resume" if resume else "sign-in",
    }
    if resume:
        run.load(token_file)
        out.update(await run.session(stored_first=True))
    else:
        out["chatgpt"] = await run.chatgpt_challenge()
        out.update(await run.session(stored_first=False))
        anonymous = run.anonymous()
        if anonymous is None:
            _fail(f"the SDK signed in without an HTTP 401 from the MCP endpoint: {run.traffic}")
        out["anonymous"] = anonymous
        out["challenge"] = anonymous["wwwAuthenticate"]
    tokens = run.storage.tokens
    out["signIns"] = run.sign_ins
    out["browserSteps"] = run.browser_steps
    out["authorizationResponse"] = run.authorization_response
    out["clientId"] = getattr(run.storage.client_info, "client_id", None)
    out["scope"] = getattr(tokens, "scope", None)
    out["hasRefreshToken"] = bool(tokens and tokens.refresh_token)
    out["traffic"] = run.traffic
    if token_file is not None:
        run.save(token_file)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the MCP endpoint, http://127.0.0.1:PORT/mcp")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--scope", default="user read:data")
    parser.add_argument("--token-file", help="load tokens from it when it exists; write them back at the end")
    parser.add_argument("--message", default="hi")
    opts = parser.parse_args()
    host = urlparse(opts.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must be a loopback URL")

    async def bounded() -> dict[str, Any] | None:
        with anyio.move_on_after(TIMEOUT_SECONDS):
            return await _run(opts)
        return None

    try:
        out = anyio.run(bounded)
    except BaseException as exc:  # noqa: BLE001 - report anything, including exception groups
        if isinstance(exc, KeyboardInterrupt):
            raise
        for leaf in _leaf_errors(exc):
            print(f"py_oauth_client: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        return 1
    if out is None:
        print(f"py_oauth_client: timed out after {TIMEOUT_SECONDS} s", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
