"""Staff sign-in through an identity provider (OpenID Connect), end to end in a real Chromium.

The provider is a small one written here (discovery, authorize, token, JWKS; RS256-signed ID tokens), on
localhost: Streamlit's own `st.login` talks to it exactly as it would to a hospital's identity provider, and the
app maps the e-mail in the signed token to roles from `[carescore_roles]` in secrets.toml."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from conftest import free_port, streamlit_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CLIENT_ID, CLIENT_SECRET = "carescore-test", "not-a-real-secret"
PERSON = {"sub": "u-1", "email": "cmo@example.org", "name": "Dr. Rivera (IdP)"}


class Provider:
    """Signs in PERSON at once (no login form): enough to test everything on the app's side of the protocol."""

    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, body: dict, status: int = 200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._json(provider.metadata())
                elif url.path == "/jwks":
                    self._json(KeySet([provider.key]).as_dict(private=False))
                elif url.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = query
                    target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                provider.token_requests.append(form)
                asked = provider.codes.pop(form.get("code", ""), None)
                if self.path != "/token" or asked is None:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                now = int(time.time())
                claims = {**PERSON, "iss": provider.url, "aud": asked["client_id"], "iat": now, "exp": now + 600,
                          "nonce": asked.get("nonce")}
                token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, provider.key)
                self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 600,
                            "id_token": token, "scope": asked.get("scope", "openid")})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def metadata(self) -> dict:
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}


@pytest.fixture(scope="module")
def idp_app(published_demo, tmp_path_factory):
    provider = Provider()
    site = tmp_path_factory.mktemp("idp_site")
    port = free_port()
    (site / ".streamlit").mkdir()
    (site / ".streamlit" / "secrets.toml").write_text(
        f'[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(16)}"\nclient_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n\n'
        f'[carescore_roles]\n"{PERSON["email"]}" = ["leadership"]\n')
    with streamlit_app(site, {"CARESCORE_STORE": str(published_demo), "CARESCORE_AUTH_FILE": ""}, cwd=site,
                       port=port) as url:
        yield url, provider
    provider.httpd.shutdown()


def test_sign_in_through_the_identity_provider_grants_exactly_the_roles_configured(idp_app, page):
    url, provider = idp_app
    page.goto(url)
    page.get_by_role("link", name="Scorecard", exact=True).click()
    page.get_by_text("Please sign in with your staff account").first.wait_for()
    page.get_by_role("link", name="Staff sign-in", exact=True).click()
    assert page.get_by_label("Password").count() == 0  # no local password form when an identity provider is set
    page.get_by_role("button", name="Sign in with your organization account").click()
    page.wait_for_url(f"{url}/", timeout=60_000)  # to the provider and back to the app's front page
    page.get_by_role("link", name="Staff sign-in", exact=True).click()
    page.get_by_text("You are signed in as").first.wait_for()
    assert page.get_by_text(f"You are signed in as {PERSON['name']} through your identity provider").count() == 1
    # the app checked the token with the provider: one code exchanged, with this client's credentials
    assert len(provider.token_requests) == 1 and provider.token_requests[0]["grant_type"] == "authorization_code"
    page.get_by_role("link", name="Scorecard", exact=True).click()
    page.get_by_role("heading", name="Scorecard").first.wait_for()
    assert page.get_by_text("Please sign in with your staff account").count() == 0
    page.get_by_role("link", name="Incentives", exact=True).click()  # the payer role was not given
    page.get_by_text("your account does not include access for").first.wait_for()
