"""A relying party no one here wrote, against roster as OpenID Provider:
Python's Authlib (its requests OAuth2Session, and its own ID-token
validation: signature against the JWKS, iss, aud, azp, exp, nonce, at_hash).

It registers an app as the admin, signs a person in through roster's pages
(a requests session keeps the cookies; the app's callback is never called:
the redirect to it is read instead), exchanges the code with PKCE, checks
the ID token and userinfo, refreshes, introspects and revokes.

Usage: oidc_client.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD
"""

import contextlib
import html.parser
import os
import sys
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

# roster runs on plain http on loopback in this test.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

BASE, ADMIN, ADMIN_PASSWORD = sys.argv[1:4]
CALLBACK = "http://127.0.0.1:9/callback"
PERSON, PERSON_PASSWORD = "ada@example.test", "ada-password-1"


class Inputs(html.parser.HTMLParser):
    """The named inputs of one form of a page."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.inside, self.values = form_id, False, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif tag == "input" and self.inside and a.get("name"):
            self.values[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def form_of(page, form_id):
    p = Inputs(form_id)
    p.feed(page)
    assert p.values, f"no form #{form_id} in {page[:300]}"
    return p.values


class RelyingParty(OpenIDMixin):
    """Authlib's OpenID mixin over a requests OAuth2Session."""

    def __init__(self, session, metadata):
        self.session, self.server_metadata = session, metadata
        self.client_id = session.client_id

    def load_server_metadata(self):
        return self.server_metadata

    def _get_session(self):
        return contextlib.nullcontext(self.session)

    def get(self, url, **kwargs):
        return self.session.get(url, **kwargs)


def admin_setup():
    s = requests.Session()
    r = s.post(f"{BASE}/api/v1/auth/login", json={"login": ADMIN, "password": ADMIN_PASSWORD})
    r.raise_for_status()
    s.headers["authorization"] = f"Bearer {r.json()['access_token']}"
    r = s.post(f"{BASE}/api/v1/users", json={"email": PERSON, "password": PERSON_PASSWORD, "name": "Ada Lovelace", "email_verified": True})
    assert r.status_code == 201, r.text
    r = s.post(f"{BASE}/api/v1/oauth-clients", json={"name": "Authlib app", "redirect_uris": [CALLBACK]})
    assert r.status_code == 201, r.text
    c = r.json()
    return c["client_id"], c["client_secret"]


def browser_sign_in(auth_url):
    """The person's browser: roster's sign-in and consent pages; returns
    the URL roster sends it back to the app with."""
    b = requests.Session()
    r = b.get(auth_url, allow_redirects=True)
    assert "/account/login" in r.url, r.url
    fields = form_of(r.text, "login-form")
    fields.update(login=PERSON, password=PERSON_PASSWORD)
    r = b.post(f"{BASE}/account/login", data=fields, headers={"sec-fetch-site": "same-origin"}, allow_redirects=True)
    assert r.status_code == 200 and "consent-form" in r.text, r.text[:500]
    fields = form_of(r.text, "consent-form")
    fields["decision"] = "allow"
    r = b.post(f"{BASE}/oauth2/authorize/consent", data=fields, headers={"sec-fetch-site": "same-origin"}, allow_redirects=False)
    assert r.status_code == 303, r.status_code
    return r.headers["location"]


def main():
    client_id, secret = admin_setup()
    metadata = requests.get(f"{BASE}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == BASE, metadata["issuer"]

    session = OAuth2Session(client_id, secret, scope="openid email profile", redirect_uri=CALLBACK, code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
    rp = RelyingParty(session, metadata)
    verifier, nonce = generate_token(48), generate_token(20)
    auth_url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

    back = browser_sign_in(auth_url)
    assert back.startswith(CALLBACK), back
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    assert query["iss"] == BASE, query

    token = session.fetch_token(metadata["token_endpoint"], authorization_response=back, state=state, code_verifier=verifier)
    claims = rp.parse_id_token(token, nonce)
    assert claims["email"] == PERSON and claims["name"] == "Ada Lovelace", claims
    sub = claims["sub"]
    print(f"code flow: ID token for {claims['email']} ({claims['sub']}), signed {metadata['id_token_signing_alg_values_supported'][0]}")

    info = rp.userinfo()
    assert info["sub"] == sub and info["email"] == PERSON, info
    print(f"userinfo: {dict(info)}")

    first_refresh = token["refresh_token"]
    token = session.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert token["refresh_token"] != first_refresh
    rp.parse_id_token(token, None)
    print("refresh: new tokens, a new refresh token")

    seen = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()
    assert seen["active"] is True and seen["sub"] == sub, seen
    session.revoke_token(metadata["revocation_endpoint"], token=token["refresh_token"]).raise_for_status()
    seen = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()
    assert seen == {"active": False}, seen
    r = requests.get(metadata["userinfo_endpoint"], headers={"authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 401, r.status_code
    print("introspect, revoke: the session ended; its access token is refused")


if __name__ == "__main__":
    main()
