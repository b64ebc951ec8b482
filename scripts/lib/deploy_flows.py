"""Every user flow of a deployed Widgetry app, through its TLS proxy, across instances.

Run by scripts/deploy-local.sh once two instances sit behind nginx (which names the
instance that answered in `X-Upstream`). Python standard library only. It drives what a
host does, from the public https URL with the certificate verified against --ca:

1. OAuth 2.1 against the embedded authorization server: discovery from the 401 of a
   protected tool, the protected-resource and authorization-server metadata, dynamic
   client registration, the authorization request (PKCE S256, `resource`), the sign-in
   page filled with the demo user's email and password, consent when it is shown, and
   the code exchange;
2. the widget tool called with the access token, whose result carries a widget token;
3. a widget action `POST /widget/actions/<name>` with that widget token and the public
   Origin;
4. a refresh-token rotation, then the refresh token revoked through one instance and
   refused by the other.

Each step is checked to have been served by both instances (nginx round robin). Prints
"  ok   <check>" per passed check; on the first failure prints "  FAIL <check>" and what
it saw on stderr, and exits 1.
"""

import argparse
import base64
import hashlib
import http.cookiejar
import json
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

REDIRECT = "http://127.0.0.1:9/callback"
PROTOCOL = "2025-06-18"


class Failed(Exception):
    """A check that did not hold: its name and what was seen."""


def need(cond, what, saw):
    if not cond:
        raise Failed(f"{what}\n       saw: {saw}")


class Answer:
    """One HTTP answer: status, headers, body text and the instance that served it."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body.decode("utf-8", "replace")
        self.upstream = headers.get("X-Upstream", "")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def rpc(self):
        """The JSON-RPC message of an MCP answer, whether JSON or a text/event-stream."""
        if "text/event-stream" in self.headers.get("Content-Type", ""):
            for line in self.body.splitlines():
                if line.startswith("data:") and line[5:].strip():
                    msg = json.loads(line[5:])
                    if "id" in msg:
                        return msg
            return None
        return self.json()

    def brief(self):
        return f"{self.status} from {self.upstream or '?'}: {self.body[:400]}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to look at (the last one goes to the client's callback)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    """HTTPS with the deployment's CA, a cookie jar (the sign-in page's browser cookie),
    and a record of which instance served each request of the current step."""

    def __init__(self, ca):
        ctx = ssl.create_default_context(cafile=ca)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            NoRedirect(),
        )
        self.seen = set()

    def send(self, method, url, body=None, headers=None):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=15) as r:
                a = Answer(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            a = Answer(e.code, e.headers, e.read())
        except (urllib.error.URLError, OSError) as e:
            raise Failed(f"{method} {url}: an answer\n       saw: {e}") from None
        self.seen.add(a.upstream)
        return a

    def form(self, url, fields, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.send("POST", url, urllib.parse.urlencode(fields).encode(), h)

    def post_json(self, url, value, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.send("POST", url, json.dumps(value).encode(), h)


class Forms(HTMLParser):
    """The forms of a page: action, inputs (name, type, value) and submit buttons."""

    def __init__(self, page):
        super().__init__()
        self.forms = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "inputs": [], "submits": []})
        elif self.forms and tag in ("input", "button") and a.get("name"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            field = (a["name"], kind, a.get("value", ""))
            self.forms[-1]["submits" if kind == "submit" else "inputs"].append(field)


def parse_challenge(header):
    """The parameters of a `Bearer k="v", …` WWW-Authenticate challenge."""
    params = {}
    for part in header.partition(" ")[2].split(","):
        k, _, v = part.strip().partition("=")
        if k:
            params[k] = v.strip('"')
    return params


class Flows:
    def __init__(self, args):
        self.a = args
        self.c = Client(args.ca)
        self.public = args.public.rstrip("/")
        self.instances = set(args.instances.split(","))

    def ok(self, what):
        print(f"  ok   {what}", flush=True)

    def check(self, cond, what, saw):
        """One check of a step: "ok" when it holds, Failed with what was seen when not."""
        need(cond, what, saw)
        self.ok(what)

    def step(self, what, run):
        """Runs one step and checks both instances served part of it."""
        self.c.seen = set()
        run()
        need(
            self.instances <= self.c.seen,
            f"{what}: served by both instances",
            f"served by {sorted(self.c.seen)}, instances {sorted(self.instances)}",
        )
        self.ok(f"{what} (served by both instances)")

    def mcp(self, body, sid=None, token=None):
        h = {"Accept": "application/json, text/event-stream"}
        if sid:
            h.update({"Mcp-Session-Id": sid, "Mcp-Protocol-Version": PROTOCOL})
        if token:
            h["Authorization"] = f"Bearer {token}"
        return self.c.post_json(f"{self.public}/mcp", body, h)

    def session(self, token=None):
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                           "clientInfo": {"name": "deploy-flows", "version": "1"}}}
        r = self.mcp(init, token=token)
        sid = r.headers.get("Mcp-Session-Id")
        need(r.status == 200 and sid, "initialize gives a session", r.brief())
        self.mcp({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid, token)
        return sid

    def call(self, sid, name, arguments, token=None):
        return self.mcp({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                         "params": {"name": name, "arguments": arguments}}, sid, token)

    # 1. OAuth 2.1 ------------------------------------------------------------------
    def discover(self):
        sid = self.session()
        r = self.call(sid, self.a.action, self.action_input)
        challenge = r.headers.get("WWW-Authenticate", "")
        self.check(r.status == 401 and challenge.startswith("Bearer "),
                   f"{self.a.action} without a token: HTTP 401 with a Bearer challenge",
                   f"{r.brief()} WWW-Authenticate: {challenge!r}")
        p = parse_challenge(challenge)
        prm_url = p.get("resource_metadata", "")
        need(prm_url.startswith(self.public + "/"),
             "the challenge's resource_metadata is on the public https origin", challenge)
        self.scope = p.get("scope", "")
        self.check(self.scope, "the challenge names the public resource_metadata and the scope",
                   challenge)
        prm = self.c.send("GET", prm_url)
        m = prm.json() or {}
        self.check(prm.status == 200 and m.get("resource") == f"{self.public}/mcp"
                   and m.get("authorization_servers"),
                   "protected-resource metadata: the public resource and its authorization server",
                   prm.brief())
        self.resource = m["resource"]
        issuer = m["authorization_servers"][0]
        asm = self.c.send("GET", f"{issuer}/.well-known/oauth-authorization-server")
        s = asm.json() or {}
        self.check(asm.status == 200 and s.get("issuer") == issuer
                   and "S256" in s.get("code_challenge_methods_supported", [])
                   and all(s.get(k, "").startswith(self.public + "/") for k in
                           ("authorization_endpoint", "token_endpoint",
                            "registration_endpoint", "revocation_endpoint")),
                   "authorization-server metadata: the issuer, S256, public https endpoints",
                   asm.brief())
        self.issuer, self.meta = issuer, s

    def register(self):
        r = self.c.post_json(self.meta["registration_endpoint"], {
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "client_name": "deploy-local flows"})
        self.client_id = (r.json() or {}).get("client_id")
        self.check(r.status == 201 and self.client_id, "dynamic client registration", r.brief())

    def authorize(self):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(12)
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": REDIRECT, "code_challenge": challenge,
            "code_challenge_method": "S256", "state": state, "scope": self.scope,
            "resource": self.resource})
        url = f"{self.meta['authorization_endpoint']}?{query}"
        page = self.c.send("GET", url)
        self.check(page.status == 200, "the authorization request shows the sign-in page",
                   page.brief())
        signin = [f for f in Forms(page.body).forms
                  if any(k == "password" for _, k, _ in f["inputs"])]
        need(signin, "the sign-in page has a password form", page.brief())
        fields, filled = [], set()
        for name, kind, value in signin[0]["inputs"]:
            if kind == "password":
                value = self.a.password
                filled.add("password")
            elif kind == "email" or name in ("username", "email"):
                value = self.a.email
                filled.add("email")
            fields.append((name, value))
        need(filled == {"email", "password"}, "the sign-in form asks for email and password",
             signin[0])
        done = self.c.form(urllib.parse.urljoin(url, signin[0]["action"]), fields)
        consent_shown = done.status == 200
        if consent_shown:
            consent = [f for f in Forms(done.body).forms
                       if ("decision", "submit", "allow") in f["submits"]]
            need(consent, "after sign-in: the consent form (decision=allow)", done.brief())
            fields = [(n, v) for n, _, v in consent[0]["inputs"]] + [("decision", "allow")]
            done = self.c.form(urllib.parse.urljoin(url, consent[0]["action"]), fields)
        location = done.headers.get("Location", "")
        self.check(done.status in (302, 303) and location.startswith(REDIRECT + "?"),
                   "signed in" + (" and consented" if consent_shown else "")
                   + ": redirected to the client's callback",
                   f"{done.brief()} Location: {location}")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        self.check(q.get("state") == state and q.get("iss") == self.issuer and q.get("code"),
                   "the callback carries the code, our state and the issuer (RFC 9207)", location)
        r = self.c.form(self.meta["token_endpoint"], [
            ("grant_type", "authorization_code"), ("code", q["code"]),
            ("code_verifier", verifier), ("redirect_uri", REDIRECT),
            ("client_id", self.client_id)])
        self.tokens = r.json() or {}
        self.check(r.status == 200 and self.tokens.get("access_token")
                   and self.tokens.get("refresh_token"),
                   "code exchange (PKCE verifier): access and refresh tokens", r.brief())
        self.consent_shown = consent_shown

    def oauth(self):
        self.discover()
        self.register()
        self.authorize()

    # 2. the protected tool ---------------------------------------------------------
    def tool_calls(self):
        token = self.tokens["access_token"]
        sid = self.session(token)
        for _ in range(4):
            r = self.call(sid, self.a.tool, {}, token)
            msg = r.rpc() or {}
            wt = (msg.get("result", {}).get("_meta", {})
                  .get("widgetry/widgetToken", {}) or {}).get("token")
            need(r.status == 200 and not msg.get("result", {}).get("isError") and wt,
                 f"{self.a.tool} with the access token: a result with a widget token in "
                 '_meta["widgetry/widgetToken"]', r.brief())
            self.widget_token = wt

    # 3. widget actions -------------------------------------------------------------
    def actions(self):
        like = self.a.action
        unlike = "un" + like
        for name, liked in ((like, True), (unlike, False), (like, True), (unlike, False)):
            r = self.c.post_json(f"{self.public}/widget/actions/{name}", self.action_input, {
                "Authorization": f"Bearer {self.widget_token}", "Origin": self.public})
            body = r.json()
            need(r.status == 200 and find(body, "liked") is liked,
                 f"widget action {name} with the widget token: liked={liked}", r.brief())

    # 4. refresh rotation and revocation --------------------------------------------
    def refresh(self, token):
        return self.c.form(self.meta["token_endpoint"], [
            ("grant_type", "refresh_token"), ("refresh_token", token),
            ("client_id", self.client_id)])

    def rotation(self):
        old = self.tokens["refresh_token"]
        r = self.refresh(old)
        t = r.json() or {}
        self.check(r.status == 200 and t.get("access_token") and t.get("refresh_token")
                   and t["refresh_token"] != old,
                   "refresh: a new access token and a new (rotated) refresh token", r.brief())
        self.tokens = t
        sid = self.session(t["access_token"])
        c = self.call(sid, self.a.tool, {}, t["access_token"])
        msg = c.rpc() or {}
        self.check(c.status == 200 and "result" in msg and not msg["result"].get("isError"),
                   "the refreshed access token calls the tool", c.brief())

    def revocation(self):
        token = self.tokens["refresh_token"]
        r = self.c.form(self.meta["revocation_endpoint"],
                        [("token", token), ("token_type_hint", "refresh_token"),
                         ("client_id", self.client_id)])
        self.check(r.status == 200, "revocation of the refresh token", r.brief())
        revoker = r.upstream
        refusals = set()
        for _ in range(4):
            x = self.refresh(token)
            need(x.status == 400 and (x.json() or {}).get("error") == "invalid_grant",
                 "the revoked refresh token is refused (invalid_grant)", x.brief())
            refusals.add(x.upstream)
        self.check(refusals - {revoker},
                   "the instance that did not revoke refuses it too",
                   f"revoked by {revoker}, refused by {sorted(refusals)}")

    def run(self):
        self.action_input = json.loads(self.a.action_input)
        started = time.monotonic()
        self.step("OAuth 2.1: 401 discovery, registration, PKCE S256 + resource, sign-in, "
                  "consent, code exchange", self.oauth)
        if not self.consent_shown:
            print("       (no consent page was shown: the sign-in redirected straight back)")
        self.step(f"{self.a.tool} with the access token, widget token in its _meta, 4 calls",
                  self.tool_calls)
        self.step(f"widget actions {self.a.action} / un{self.a.action} with the widget "
                  "token and the public Origin, 4 calls", self.actions)
        self.step("refresh-token rotation, the new access token works", self.rotation)
        self.step("the refresh token revoked on one instance is refused by the other",
                  self.revocation)
        print(f"       (flows took {time.monotonic() - started:.1f} s)", flush=True)


def find(value, key):
    """The first value under `key` anywhere in a JSON value (None when absent)."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            found = find(v, key)
            if found is not None:
                return found
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--public", required=True, help="the public https origin")
    p.add_argument("--ca", required=True, help="the CA certificate to verify it with")
    p.add_argument("--instances", required=True, help="host:port,host:port (X-Upstream)")
    p.add_argument("--email", required=True, help="the demo user's email")
    p.add_argument("--password", required=True, help="the demo user's password")
    p.add_argument("--tool", required=True, help="the widget tool (mints a widget token)")
    p.add_argument("--action", required=True, help="the like action (un<action> undoes it)")
    p.add_argument("--action-input", required=True, help="the action's JSON input")
    try:
        Flows(p.parse_args()).run()
    except Failed as e:
        print(f"  FAIL {e}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
