"""A real OpenID provider for the sign-in tests: oidc-provider from npm (a certified OpenID Connect provider),
run by tests/idp/provider.mjs in its own process and installed on first use into `.cache/clients/oidc`.

Users sign in without a browser: the test client asks the authorization endpoint with `login_hint`, the
provider's interaction handler signs that user in and consents, and the client exchanges the code (with
PKCE and an RFC 8707 resource indicator) at the token endpoint, as an MCP client does. Every token a test
uses comes from a provider process: expired ones from a provider whose clock runs behind, other issuers'
from another provider, rotated keys through the provider's own key set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .external import IDENTITY_PROVIDER, node_packages, unavailable

SCRIPT = Path(__file__).with_name("idp") / "provider.mjs"

#: The MCP server the tokens are for (the RFC 8707 resource; no server needs to listen there).
RESOURCE = "https://mcp.acme.test/mcp"

#: People in different groups: two whose names are employees of the simulator's account, and an
#: administrator whose name is no employee's.
USERS = {
    "marie": {"email": "marie.dupont@acme.test", "email_verified": True, "name": "Marie Dupont", "groups": ["sales"]},
    "julien": {"email": "julien.bernard@acme.test", "name": "Julien Bernard", "groups": ["support", "night"]},
    "claire": {"email": "claire.vidal@acme.test", "name": "Claire Vidal", "groups": ["it", "sales"]},
}
APP = ("mcp-client", "mcp-client-secret-" + "a" * 24)  # the MCP client, registered at the provider
SERVER = ("sipsim-mcp", "sipsim-mcp-secret-" + "b" * 24)  # this server, allowed to introspect
REDIRECT = "http://127.0.0.1:9/callback"  # never opened: the code is read from the redirect itself

#: Resource indicators the provider knows. Each issues tokens for RESOURCE unless it says otherwise.
RESOURCES: dict[str, dict[str, Any]] = {
    RESOURCE: {},
    "https://other.acme.test/api": {},  # another API of the company: its audience is its own
    "urn:acme:opaque": {"audience": RESOURCE, "format": "opaque"},
    "urn:acme:es256": {"audience": RESOURCE, "alg": "ES256"},
    "urn:acme:hs256": {"audience": RESOURCE, "alg": "HS256", "secret": "s" * 32},
    "urn:acme:other-scope": {"audience": RESOURCE, "scope": "calendar"},  # for this server, without its scope
}


def signing_key(kid: str, alg: str = "RS256") -> dict[str, Any]:
    """A new private signing key as a JWK (the provider's configuration takes private keys)."""
    if alg.startswith("ES"):
        jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def provider_module() -> Path:
    if shutil.which("node") is None:
        unavailable("node is not installed")
    return node_packages("oidc", IDENTITY_PROVIDER) / "node_modules" / "oidc-provider" / "lib" / "index.js"


class IdentityProvider:
    """One running provider process."""

    def __init__(self, process: subprocess.Popen[str], issuer: str, port: int, log: Path) -> None:
        self.process = process
        self.issuer = issuer
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def authorize(self, url: str, login: str) -> httpx.URL:
        """What a person's browser does with an authorization request `url`: `login` signs in and consents
        (the provider's test interaction), and the provider redirects to the client; that redirect, with
        its code, state and iss."""
        # The provider's cookies are kept whatever their expiry says: a provider whose clock runs behind
        # sends cookies that have expired by the system's clock.
        cookies: dict[str, str] = {}
        request = httpx.URL(url)
        request = request.copy_merge_params({"login_hint": login})
        with httpx.Client(timeout=10) as browser:
            response = browser.get(self.url + request.raw_path.decode())
            for _ in range(10):
                for header in response.headers.get_list("set-cookie"):
                    name, _, value = header.split(";")[0].partition("=")
                    cookies[name.strip()] = value
                location = response.headers.get("location", "")
                if response.status_code not in (302, 303) or not location.startswith(("/", self.issuer, self.url)):
                    break
                if location.startswith(self.issuer):  # a provider serving another issuer's name
                    location = self.url + location[len(self.issuer) :]
                elif location.startswith("/"):
                    location = self.url + location
                cookie = "; ".join(f"{name}={value}" for name, value in cookies.items() if value)
                response = browser.get(location, headers={"Cookie": cookie})
        location = httpx.URL(response.headers.get("location", ""))
        if "code" not in location.params:
            raise AssertionError(f"no code from the provider: {response.status_code} {location} {response.text}")
        return location

    def sign_in(self, login: str, resource: str = RESOURCE, *, scope: str = "sipsim") -> str:
        """An access token for `login`, from the authorization code flow with PKCE and `resource`."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": APP[0],
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": scope,
            "resource": resource,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
        }
        location = self.authorize(str(httpx.URL(f"{self.issuer}/auth", params=params)), login)
        with httpx.Client(base_url=self.url, timeout=10) as browser:
            answer = browser.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": location.params["code"],
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                    "resource": resource,
                },
                auth=APP,
            )
        if answer.status_code != 200:
            raise AssertionError(f"token endpoint: {answer.status_code} {answer.text}")
        return str(answer.json()["access_token"])

    def use_keys(self, keys: list[dict[str, Any]]) -> None:
        """Rotate: from now on the provider publishes `keys` and signs with the first."""
        httpx.post(f"{self.url}/_test/jwks", json={"keys": keys}, timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def identity_provider(
    workdir: Path,
    keys: list[dict[str, Any]],
    *,
    issuer: str | None = None,
    clock_offset: float = 0,
    discovery: str = "oidc",
    port: int = 0,
) -> Iterator[IdentityProvider]:
    """Start a provider signing with `keys` on `port` (0: any free one), its issuer its own URL unless
    given, its clock `clock_offset` seconds off the system's; stop it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"idp-{secrets.token_hex(4)}"
    config = workdir / f"{name}.json"
    config.write_text(
        json.dumps(
            {
                "module": str(provider_module()),
                "issuer": issuer,
                "port": port,
                "jwks": {"keys": keys},
                "clockOffset": clock_offset,
                "discovery": discovery,
                "users": USERS,
                "resources": RESOURCES,
                "clients": [
                    {
                        "client_id": APP[0],
                        "client_secret": APP[1],
                        "redirect_uris": [REDIRECT],
                        "grant_types": ["authorization_code"],
                        "response_types": ["code"],
                    },
                    {
                        "client_id": SERVER[0],
                        "client_secret": SERVER[1],
                        "redirect_uris": [],
                        "grant_types": [],
                        "response_types": [],
                    },
                ],
            }
        )
    )
    log = workdir / f"{name}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            ["node", str(SCRIPT), str(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "NODE_ENV": "test"},
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        raise AssertionError(f"the identity provider did not start: {log.read_text()}")
    started = json.loads(line)
    provider = IdentityProvider(process, started["issuer"], started["port"], log)
    try:
        yield provider
    finally:
        provider.stop()
