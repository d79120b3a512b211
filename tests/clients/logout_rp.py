"""A small relying party that takes OpenID Connect back-channel logout tokens, against a running
Tessera. It signs users in with authlib (code + PKCE, client_secret_basic), keeps a session per
ID token `sid`, and listens on 127.0.0.1 for logout tokens, which it checks as OpenID Connect
Back-Channel Logout 1.0 §2.6 says, with joserfc (authlib's JOSE library) and nothing of Tessera's:

  1. a JWT signed by a key of the OP's JWKS, with an algorithm it advertises (never `none`);
     `typ` is `logout+jwt` (§2.4, explicit typing);
  2. `iss` is the issuer, `aud` holds this client's id, `iat` is present, `exp` not passed;
  3. `events` holds `http://schemas.openid.net/event/backchannel-logout` with a JSON object;
  4. `sub` or `sid` (or both) is present; there is no `nonce`;
  5. a `jti` seen before is refused (replay).

A valid token ends the RP session it names and is answered 200 with `Cache-Control: no-store`;
anything else 400 `invalid_request` (§2.8). The RP's own checker is held to those rules with
forged tokens first, so that a pass below means Tessera's tokens met every one of them.

Then: two browsers sign in; signing out in the first (RP-initiated logout with `id_token_hint`)
ends that RP session only; an administrator revoking the user's sessions ends the other; and
the sign-in log says each was delivered.

  TESSERA_ISSUER=http://127.0.0.1:8080 TESSERA_USER=admin TESSERA_PASSWORD=... \\
  TESSERA_ADMIN_CLIENT=... TESSERA_ADMIN_SECRET=... python logout_rp.py
"""

import html
import http.server
import json
import os
import queue
import re
import threading
import time
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.util import json_b64encode

ISSUER = os.environ.get("TESSERA_ISSUER", "http://127.0.0.1:8080")
USERNAME = os.environ.get("TESSERA_USER", "admin")
PASSWORD = os.environ["TESSERA_PASSWORD"]
CLIENT_ID = "interop-logout-rp"
REDIRECT_URI = "http://127.0.0.1:9999/logout-rp-callback"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def step(what):
    print(f"logout RP: {what}", flush=True)


def admin(method, path, body=None):
    token = requests.post(
        f"{ISSUER}/token",
        data={"grant_type": "client_credentials", "scope": "tessera.admin"},
        auth=(os.environ["TESSERA_ADMIN_CLIENT"], os.environ["TESSERA_ADMIN_SECRET"]),
        timeout=10,
    ).json()["access_token"]
    r = requests.request(
        method, f"{ISSUER}/admin/api{path}", json=body, headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert r.ok, f"{method} {path}: {r.status_code} {r.text}"
    return r.json() if r.text else None


class Refused(Exception):
    pass


class LogoutChecker:
    """OpenID Connect Back-Channel Logout 1.0 §2.6, step by step."""

    def __init__(self, keys, algorithms, issuer, client_id):
        self.keys, self.algorithms, self.issuer, self.client_id = keys, algorithms, issuer, client_id
        self.seen = set()

    def check(self, token):
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as e:
            raise Refused(f"not a JWS: {e}")
        if header.get("alg") not in self.algorithms:
            raise Refused(f"algorithm {header.get('alg')!r} is not one the OP advertises")
        if header.get("typ") != "logout+jwt":
            raise Refused(f"typ is {header.get('typ')!r}")
        try:
            claims = jwt.decode(token, self.keys, algorithms=self.algorithms).claims
        except JoseError as e:
            raise Refused(f"bad signature: {e}")
        if claims.get("iss") != self.issuer:
            raise Refused("wrong iss")
        aud = claims.get("aud")
        if self.client_id not in (aud if isinstance(aud, list) else [aud]):
            raise Refused("not for this client")
        if not isinstance(claims.get("iat"), int):
            raise Refused("no iat")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time() - 30:
            raise Refused("expired or no exp")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
            raise Refused("no back-channel logout event")
        if "sub" not in claims and "sid" not in claims:
            raise Refused("neither sub nor sid")
        if "nonce" in claims:
            raise Refused("a nonce")
        jti = claims.get("jti")
        if not jti:
            raise Refused("no jti")
        if jti in self.seen:
            raise Refused("jti seen before")
        self.seen.add(jti)
        return claims


meta = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json()
assert meta["backchannel_logout_supported"] is True and meta["backchannel_logout_session_supported"] is True, meta
algorithms = meta["id_token_signing_alg_values_supported"]
assert "none" not in algorithms
keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
checker = LogoutChecker(keys, algorithms, ISSUER, CLIENT_ID)

# The checker itself, against forged tokens: each rule refuses what it must. (Signed by a key of
# the RP's own, which a second checker trusts, so that each case fails on its rule alone.)
forger = ECKey.generate_key("P-256", parameters={"alg": "ES256", "kid": "forger"})
test_checker = LogoutChecker(KeySet([forger]), ["ES256"], ISSUER, CLIENT_ID)
good = {"iss": ISSUER, "aud": CLIENT_ID, "iat": int(time.time()), "exp": int(time.time()) + 60, "sid": "s", "events": {EVENT: {}}}


def forged(claims, typ="logout+jwt", key=forger):
    return jwt.encode({"alg": "ES256", "typ": typ, "kid": key.kid}, claims, key)


cases = [
    ("no events", {k: v for k, v in good.items() if k != "events"}, "logout+jwt", "no back-channel logout event"),
    ("the event as a string", {**good, "events": {EVENT: "yes"}}, "logout+jwt", "no back-channel logout event"),
    ("a nonce", {**good, "nonce": "n"}, "logout+jwt", "a nonce"),
    ("neither sub nor sid", {k: v for k, v in good.items() if k != "sid"}, "logout+jwt", "neither sub nor sid"),
    ("another audience", {**good, "aud": "someone-else"}, "logout+jwt", "not for this client"),
    ("another issuer", {**good, "iss": "https://evil.example"}, "logout+jwt", "wrong iss"),
    ("expired", {**good, "exp": int(time.time()) - 3600}, "logout+jwt", "expired"),
    ("an ID token's typ", good, "JWT", "typ"),
]
for i, (name, claims, typ, why) in enumerate(cases):
    try:
        test_checker.check(forged({**claims, "jti": f"j{i}"}, typ))
        raise AssertionError(f"the checker took a token with {name}")
    except Refused as e:
        assert why in str(e), (name, str(e))
unsigned = ".".join(
    [json_b64encode(part).decode() for part in ({"alg": "none", "typ": "logout+jwt"}, {**good, "jti": "x"})]
) + "."
for name, token, checker_used in [("alg none", unsigned, test_checker), ("the RP's own key", forged({**good, "jti": "y"}), checker)]:
    try:
        checker_used.check(token)
        raise AssertionError(f"the checker took a token with {name}")
    except Refused:
        pass
test_checker.check(forged({**good, "jti": "z"}))
try:
    test_checker.check(forged({**good, "jti": "z"}))
    raise AssertionError("the checker took a replayed jti")
except Refused:
    pass
step(f"the checker refuses {len(cases) + 3} forged kinds of logout token (§2.6) and takes a good one")

# The RP: sessions by sid, and its back-channel logout endpoint.
sessions = {}
heard = queue.Queue()


class Endpoint(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        params = urllib.parse.parse_qs(body)
        status, answer = 200, b""
        try:
            if self.path != "/backchannel-logout":
                raise Refused("no such endpoint")
            if not self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                raise Refused("not form-encoded")
            if list(params) != ["logout_token"] or len(params["logout_token"]) != 1:
                raise Refused("not exactly one logout_token")
            claims = checker.check(params["logout_token"][0])
            sessions.pop(claims.get("sid"), None)
            heard.put(("ok", claims))
        except Refused as e:
            status, answer = 400, json.dumps({"error": "invalid_request", "error_description": str(e)}).encode()
            heard.put(("refused", str(e)))
        self.send_response(status)
        self.send_header("cache-control", "no-store")
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
threading.Thread(target=server.serve_forever, daemon=True).start()
logout_uri = f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout"
made = admin(
    "POST",
    "/applications",
    {"id": CLIENT_ID, "kind": "confidential", "redirect_uris": [REDIRECT_URI], "backchannel_logout_uri": logout_uri},
)
assert made["backchannel_logout_uri"] == logout_uri, made
client = OAuth2Session(CLIENT_ID, made["client_secret"], scope="openid", redirect_uri=REDIRECT_URI)
step(f"registered with backchannel_logout_uri {logout_uri}")


def sign_in():
    """A browser signs in; the RP redeems the code and keeps a session under the ID token's sid."""
    verifier, state, nonce = generate_token(48), generate_token(16), generate_token(16)
    url = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": state, "nonce": nonce, "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    })
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=10)
    form = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    form.update(username=USERNAME, password=PASSWORD)
    r = browser.post(urllib.parse.urljoin(url, "/login"), data=form, allow_redirects=False, timeout=10)
    for _ in range(5):
        location = urllib.parse.urljoin(url, r.headers["location"])
        if location.startswith(REDIRECT_URI):
            break
        r = browser.get(location, allow_redirects=False, timeout=10)
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert back["state"] == state, back
    token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=back["code"],
                               redirect_uri=REDIRECT_URI, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], keys, algorithms=algorithms).claims
    assert claims["nonce"] == nonce and claims["aud"] == CLIENT_ID
    sessions[claims["sid"]] = claims["sub"]
    return browser, token["id_token"], claims["sid"]


def next_logout():
    kind, what = heard.get(timeout=10)
    assert kind == "ok", f"a logout token Tessera sent was refused: {what}"
    return what


first_browser, first_id_token, first_sid = sign_in()
_, _, second_sid = sign_in()
assert first_sid != second_sid and len(sessions) == 2
step("two browsers signed in: two RP sessions")

started = time.monotonic()
out = first_browser.get(meta["end_session_endpoint"], params={"id_token_hint": first_id_token}, allow_redirects=False, timeout=10)
assert out.status_code in (200, 303), out.text
claims = next_logout()
sign_out_ms = (time.monotonic() - started) * 1000
assert claims["sid"] == first_sid and claims["sub"] == sessions[second_sid], claims
assert first_sid not in sessions and second_sid in sessions
step(f"signed out in the first browser: its logout token ({sign_out_ms:.0f} ms later) passed every check; that session ended, the other stays")

started = time.monotonic()
admin("POST", f"/users/{sessions[second_sid]}/revoke-sessions")
claims = next_logout()
revoke_ms = (time.monotonic() - started) * 1000
assert claims["sid"] == second_sid, claims
assert not sessions
step(f"an administrator revoked the user's sessions: the second logout token ({revoke_ms:.0f} ms later) ended the other session")

time.sleep(0.3)
assert heard.empty(), heard.get()
logged = admin("GET", "/sign-ins?outcome=loggedOut")["items"]
mine = [e for e in logged if e["client_id"] == CLIENT_ID]
assert len(mine) == 2 and all(e["stage"] == "backchannelLogout" for e in mine), logged
step("the sign-in log says both were delivered")
print("logout RP: ok")
