"""A confidential app on authlib (PyPI), against a running Tessera: private_key_jwt with authlib's
own client authentication, pushed authorization requests (RFC 9126), and request objects
(RFC 9101) by value and pushed, signed with joserfc (authlib's JOSE library); the ID token
validated with authlib's OpenID Connect claims rules. authlib's client has no PAR helper, so the
push is a form POST through its session, authenticated the same way as its token requests.
Then a public app on a machine without a browser: the device authorization grant (RFC 8628),
polled with authlib's fetch_token and its error handling (authlib has no client-side device flow
helper, nor DPoP, so its tokens are Bearer tokens).

Nothing here knows Tessera except the issuer URL, the user's credentials and, to register the
app's keys, the admin client (as an operator's script would).

  TESSERA_ISSUER=http://127.0.0.1:8080 TESSERA_USER=admin TESSERA_PASSWORD=... \\
  TESSERA_ADMIN_CLIENT=... TESSERA_ADMIN_SECRET=... python authlib_client.py
"""

import html
import os
import sys
import re
import time
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

ISSUER = os.environ.get("TESSERA_ISSUER", "http://127.0.0.1:8080")
USERNAME = os.environ.get("TESSERA_USER", "admin")
PASSWORD = os.environ["TESSERA_PASSWORD"]
CLIENT_ID = "interop-authlib"
REDIRECT_URI = "http://127.0.0.1:9999/authlib-callback"


def step(what):
    print(f"authlib: {what}", flush=True)


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
    return r.json()


def sign_in(url):
    """A browser, reduced to what signing in needs: cookies, one form, redirects."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    form = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    form.update(username=USERNAME, password=PASSWORD)
    r = browser.post(urllib.parse.urljoin(url, "/login"), data=form, allow_redirects=False, timeout=10)
    for _ in range(5):
        assert r.status_code == 303, r.text
        location = urllib.parse.urljoin(url, r.headers["location"])
        if location.startswith(REDIRECT_URI):
            return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        r = browser.get(location, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects")


meta = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == ISSUER
step(f"discovered {meta['issuer']}: PAR at {meta['pushed_authorization_request_endpoint']}")

key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)
admin(
    "POST",
    "/applications",
    {
        "id": CLIENT_ID,
        "kind": "confidential",
        "redirect_uris": [REDIRECT_URI],
        "jwks": {"keys": [key.as_dict(private=False)]},
    },
)



class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """authlib's private_key_jwt with a one-minute assertion: authlib signs assertions valid for an
    hour by default, and Tessera accepts at most five minutes (it remembers every jti that long)."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(auth.client_secret, auth.client_id, token_endpoint, alg=self.alg, expires_in=60)


# authlib's session authenticates with private_key_jwt at the token endpoint ...
session = OAuth2Session(
    CLIENT_ID,
    key,
    token_endpoint_auth_method="private_key_jwt",
    redirect_uri=REDIRECT_URI,
    scope="openid profile",
)
session.register_client_auth_method(ShortLivedPrivateKeyJWT(meta["token_endpoint"], alg="ES256"))
# ... and, for the push, with an assertion whose audience is the PAR endpoint (RFC 9126 §2).
par_auth = session.client_auth(ShortLivedPrivateKeyJWT(meta["pushed_authorization_request_endpoint"], alg="ES256"))


def new_request():
    verifier = generate_token(48)
    return verifier, {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": generate_token(16),
        "nonce": generate_token(16),
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }


def request_object(params, signing_key=key):
    now = int(time.time())
    claims = {**params, "iss": CLIENT_ID, "aud": ISSUER, "iat": now, "nbf": now, "exp": now + 120, "jti": generate_token(16)}
    return jwt.encode({"alg": "ES256", "typ": "oauth-authz-req+jwt"}, claims, signing_key)


def push(data):
    return session.post(meta["pushed_authorization_request_endpoint"], data=data, auth=par_auth, withhold_token=True)


def authorize_url(params):
    return f"{meta['authorization_endpoint']}?{urllib.parse.urlencode(params)}"


jwks = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())


def redeem(verifier, params, back):
    assert back.get("state") == params["state"], back
    assert back.get("iss") == ISSUER, "RFC 9207"
    token = session.fetch_token(
        meta["token_endpoint"],
        grant_type="authorization_code",
        code=back["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    decoded = jwt.decode(token["id_token"], jwks, algorithms=meta["id_token_signing_alg_values_supported"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={"iss": {"value": ISSUER}},
        params={"nonce": params["nonce"], "client_id": CLIENT_ID},
    )
    claims.validate()
    assert claims["preferred_username"] == USERNAME
    return claims


# 1. A pushed request, the parameters in the form.
verifier, params = new_request()
r = push(params)
assert r.status_code == 201, r.text
assert r.headers["cache-control"] == "no-store"
pushed = r.json()
assert pushed["request_uri"].startswith("urn:ietf:params:oauth:request_uri:") and pushed["expires_in"] > 0
url = authorize_url({"client_id": CLIENT_ID, "request_uri": pushed["request_uri"]})
claims = redeem(verifier, params, sign_in(url))
step(f"pushed request: signed in, code redeemed with private_key_jwt, ID token for {claims['sub']}")
assert requests.get(url, allow_redirects=False, timeout=10).status_code == 400
step("the used request_uri is refused")

# 2. A request object by value at the authorization endpoint.
verifier, params = new_request()
claims = redeem(verifier, params, sign_in(authorize_url({"client_id": CLIENT_ID, "request": request_object(params)})))
step("request object by value: signed in, ID token validated")

# 3. A request object, pushed.
verifier, params = new_request()
r = push({"client_id": CLIENT_ID, "request": request_object(params)})
assert r.status_code == 201, r.text
url = authorize_url({"client_id": CLIENT_ID, "request_uri": r.json()["request_uri"]})
claims = redeem(verifier, params, sign_in(url))
step("request object pushed: signed in, ID token validated")

# 4. What must be refused is, with the RFCs' errors.
_, params = new_request()
stranger = ECKey.generate_key("P-256", parameters={"alg": "ES256"})
r = push({"client_id": CLIENT_ID, "request": request_object(params, stranger)})
assert (r.status_code, r.json()["error"]) == (400, "invalid_request_object"), r.text
r = push({**params, "redirect_uri": "https://evil.example/cb"})
assert (r.status_code, r.json()["error"]) == (400, "invalid_request"), r.text
r = requests.post(meta["pushed_authorization_request_endpoint"], data=params, timeout=10)
assert (r.status_code, r.json()["error"]) == (401, "invalid_client"), r.text
step("a request object by another key, an unregistered redirect URI, no client authentication: refused")


def approve_device(url, user_code):
    """The user on a machine with a browser: sign in at /device, confirm the code, approve."""
    browser = requests.Session()

    def hidden(page):
        return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}

    page = browser.get(url, timeout=10).text
    login = hidden(page)
    login.update(username=USERNAME, password=PASSWORD)
    page = browser.post(urllib.parse.urljoin(url, "/login"), data=login, timeout=10).text
    assert f'value="{user_code}"' in page, "the complete URI filled the code in"
    entered = hidden(page)
    entered["user_code"] = user_code
    page = browser.post(urllib.parse.urljoin(url, "/device"), data=entered, timeout=10).text
    assert "Sign in to" in page, page
    decided = hidden(page)
    decided["decision"] = "approve"
    done = browser.post(urllib.parse.urljoin(url, "/device/decide"), data=decided, timeout=10)
    assert done.status_code == 200 and "is signed in" in done.text, done.text


def poll(tv, asked):
    """RFC 8628 §3.4-3.5 as a client does it: every `interval` seconds, five more after slow_down,
    until tokens or a final error. Returns the tokens and the errors heard on the way."""
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    interval = asked.get("interval", 5)
    deadline = time.monotonic() + asked["expires_in"]
    heard = []
    while time.monotonic() < deadline:
        try:
            return tv.fetch_token(meta["token_endpoint"], grant_type=grant, device_code=asked["device_code"]), heard
        except OAuthError as e:
            heard.append(e.error)
            if e.error == "slow_down":
                interval += 5
            elif e.error != "authorization_pending":
                raise
        time.sleep(interval)
    raise AssertionError("the device code expired")


# 5. A TV app: device authorization, the user approves elsewhere, authlib polls.
TV_ID = "interop-authlib-tv"
admin("POST", "/applications", {"id": TV_ID, "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]})
tv = OAuth2Session(TV_ID, token_endpoint_auth_method="none", scope="openid profile")
r = tv.post(
    meta["device_authorization_endpoint"],
    data={"client_id": TV_ID, "scope": "openid profile"},
    withhold_token=True,
    timeout=10,
)
assert r.status_code == 200, r.text
asked = r.json()
assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", asked["user_code"]), asked
step(f"device authorization: user code {asked['user_code']}, poll every {asked['interval']} s")
try:
    tv.fetch_token(meta["token_endpoint"], grant_type="urn:ietf:params:oauth:grant-type:device_code", device_code=asked["device_code"])
    sys.exit("authlib: tokens before the user answered")
except OAuthError as e:
    assert e.error in ("authorization_pending", "slow_down"), e.error
    step(f"polled before the user answered: {e.error}")
approve_device(asked["verification_uri_complete"], asked["user_code"])
time.sleep(asked["interval"])
tokens, heard = poll(tv, asked)
assert tokens["token_type"].lower() == "bearer" and "refresh_token" not in tokens, tokens
decoded = jwt.decode(tokens["id_token"], jwks, algorithms=meta["id_token_signing_alg_values_supported"])
claims = CodeIDToken(decoded.claims, decoded.header, options={"iss": {"value": ISSUER}}, params={"client_id": TV_ID})
claims.validate()
step(f"approved at /device; authlib's poll got tokens for {claims['preferred_username']} (heard {heard or 'nothing'} first)")
again = requests.post(
    meta["token_endpoint"],
    data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": asked["device_code"], "client_id": TV_ID},
    timeout=10,
)
assert (again.status_code, again.json()["error"]) == (400, "invalid_grant"), again.text
step("the device code serves one poll: polled again, invalid_grant")
print("authlib: ok")
