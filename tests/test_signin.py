"""Team sign-in's token verifier against a real OpenID provider (oidc-provider, started by the tests): the
people it signs in are accepted with their identity; tokens that are expired, for another audience, from
another issuer, altered, unsigned, symmetric or signed by a retired key are refused, each for its reason;
key rotation, discovery failures and the provider's own downtime behave as an operator needs."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings
from pydantic import SecretStr

from sipsim_mcp.api.config import load_settings
from sipsim_mcp.app.doctor import diagnose
from sipsim_mcp.language.identity import Identity, current_identity
from sipsim_mcp.mcp import signin
from sipsim_mcp.mcp.policy import parse_policy, permissions
from sipsim_mcp.mcp.signin import OidcVerifier, SignInUnavailable, TokenRefused, check_sign_in

from .idp import RESOURCE, SERVER, IdentityProvider, identity_provider, signing_key

pytestmark = [pytest.mark.anyio, pytest.mark.external, pytest.mark.clock]

POLICY = parse_policy(
    """
[roles.viewer]
tools = ["list_calls", "get_call", "summarize_calls"]
[roles.agent]
tools = ["*"]
writes = ["tag_call", "untag_call", "start_call"]
[[grants]]
claim = "groups"
value = "sales"
role = "agent"
[[grants]]
claim = "groups"
value = "support"
role = "viewer"
"""
)


class Clock:
    """The verifier's clock for its caches, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """An HTTP client for the verifier that counts what it asks the provider."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.client = httpx.AsyncClient(timeout=10, event_hooks={"request": [self._seen]})

    async def _seen(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)

    def count(self, fragment: str) -> int:
        return sum(fragment in path for path in self.paths)


@pytest.fixture(scope="module")
def keys() -> list[dict[str, Any]]:
    return [signing_key("key-1"), signing_key("key-es", "ES256")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("idp")


@pytest.fixture(scope="module")
def idp(workdir: Path, keys: list[dict[str, Any]]) -> Iterator[IdentityProvider]:
    with identity_provider(workdir, keys) as provider:
        yield provider


def verifier(idp: IdentityProvider, **options: Any) -> OidcVerifier:
    return OidcVerifier(idp.issuer, RESOURCE, **options)


def b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def unb64(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_two_people_in_different_groups_are_accepted_with_their_identity_and_roles(idp):
    check = verifier(idp)
    marie = await check.verify(idp.sign_in("marie"))
    julien = Identity.from_access_token(await check.verify(idp.sign_in("julien")))
    assert julien is not None
    assert (marie.subject, marie.client_id, marie.scopes, marie.resource) == (
        "marie",
        "mcp-client",
        ["sipsim"],
        RESOURCE,
    )
    assert marie.expires_at is not None and marie.expires_at > time.time()
    person = Identity.from_access_token(marie)
    assert person is not None
    assert (person.email, person.name, person.issuer) == ("marie.dupont@acme.test", "Marie Dupont", idp.issuer)
    assert (julien.subject, julien.email, julien.label) == (
        "julien",
        "julien.bernard@acme.test",
        "julien.bernard@acme.test",
    )
    assert julien.claims["groups"] == ["support", "night"]
    assert permissions(POLICY, person.claims).may_write("start_call")
    assert permissions(POLICY, julien.claims).tools == {"list_calls", "get_call", "summarize_calls"}
    assert not permissions(POLICY, julien.claims).writes
    await check.aclose()


async def test_an_es256_token_is_accepted(idp):
    token = idp.sign_in("marie", "urn:acme:es256")
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==")).get("alg") == "ES256"
    assert (await verifier(idp).verify(token)).subject == "marie"


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = unb64(payload)
    claims["groups"] = ["admins"]
    return f"{header}.{b64(claims)}.{signature}"


def unsigned(token: str) -> str:
    header, payload, _ = token.split(".")
    return f"{b64({**unb64(header), 'alg': 'none'})}.{payload}."


@pytest.fixture(scope="module")
def bad_tokens(idp, workdir, keys) -> dict[str, str]:
    """Every kind of token the server must refuse, each from a real provider process."""
    tokens = {
        "for another audience": idp.sign_in("marie", "https://other.acme.test/api"),
        "altered after signing": tampered(idp.sign_in("marie")),
        "unsigned (alg none)": unsigned(idp.sign_in("marie")),
        "signed with a shared secret (HS256)": idp.sign_in("marie", "urn:acme:hs256"),
        "not a token at all": "definitely-not-a-token",
        "dotted, but not a JWT": "opaque-7f3a.opaque-91c2.opaque-5d08",
    }
    # the same provider (issuer and keys) with its clock an hour behind: its tokens expired 50 minutes ago
    with identity_provider(workdir, keys, issuer=idp.issuer, clock_offset=-3600) as late:
        tokens["expired"] = late.sign_in("marie")
    # ... and ten minutes ahead: issued in the future, beyond the allowed skew
    with identity_provider(workdir, keys, issuer=idp.issuer, clock_offset=600) as early:
        tokens["issued in the future"] = early.sign_in("marie")
    # another tenant of a provider that shares its keys between tenants
    with identity_provider(workdir, keys) as tenant:
        tokens["from another issuer with the same keys"] = tenant.sign_in("marie")
    with identity_provider(workdir, [signing_key("other-1")]) as other:
        tokens["from another provider"] = other.sign_in("marie")
    return tokens


REFUSALS = {
    "expired": "the token has expired",
    "for another audience": "the token is for 'https://other.acme.test/api', not for this server",
    "from another issuer with the same keys": "the token was issued by another issuer",
    "from another provider": "signed with the key 'other-1', which the provider does not publish",
    "altered after signing": "signature does not verify",
    "unsigned (alg none)": "signed with 'none', which is not accepted",
    "signed with a shared secret (HS256)": "signed with 'HS256', which is not accepted",
    "issued in the future": "not valid yet",
    "not a token at all": "the token is not a JWT, and opaque tokens need introspection",
    "dotted, but not a JWT": "the token is not a JWT, and opaque tokens need introspection",
}


@pytest.mark.parametrize("kind", REFUSALS)
async def test_a_bad_token_is_refused_for_its_reason_and_never_logged(idp, bad_tokens, kind, caplog):
    check = verifier(idp)
    token = bad_tokens[kind]
    with pytest.raises(TokenRefused) as refused:
        await check.verify(token)
    assert REFUSALS[kind] in str(refused.value)
    with caplog.at_level(logging.INFO, logger=signin.__name__):
        assert await check.verify_token(token) is None  # the SDK then answers 401
    assert REFUSALS[kind] in caplog.text
    assert not [part for part in token.split(".") if part and part in caplog.text]


async def test_a_provider_clock_within_the_skew_is_accepted(idp, workdir, keys):
    with identity_provider(workdir, keys, issuer=idp.issuer, clock_offset=30) as ahead:
        token = ahead.sign_in("julien")
    assert (await verifier(idp).verify(token)).subject == "julien"


async def test_opaque_tokens_are_introspected_once_per_minute_with_the_server_credentials(idp):
    token = idp.sign_in("julien", "urn:acme:opaque")
    assert token.count(".") == 0
    http, clock = Counted(), Clock()
    check = verifier(idp, client_id=SERVER[0], client_secret=SERVER[1], http=http.client, clock=clock)
    person = Identity.from_access_token(await check.verify(token))
    assert person is not None
    assert (person.subject, person.email, person.claims["groups"]) == (
        "julien",
        "julien.bernard@acme.test",
        ["support", "night"],
    )
    assert (await check.verify(token)).resource == RESOURCE
    assert http.count("introspection") == 1  # the second request was answered from the cache
    clock.now += signin.INTROSPECTION_SECONDS
    await check.verify(token)
    assert http.count("introspection") == 2
    with pytest.raises(TokenRefused, match="not active"):
        await check.verify("made-up-opaque-token")
    wrong = verifier(idp, client_id=SERVER[0], client_secret="wrong-secret")
    with pytest.raises(SignInUnavailable, match="check SIPSIM_MCP_OAUTH_CLIENT_ID and SIPSIM_MCP_OAUTH_CLIENT_SECRET"):
        await wrong.verify(token)
    await http.client.aclose()


async def test_an_opaque_token_for_another_audience_is_refused(idp):
    token = idp.sign_in("marie", "urn:acme:opaque")
    check = OidcVerifier(idp.issuer, "https://another-mcp.acme.test/mcp", client_id=SERVER[0], client_secret=SERVER[1])
    with pytest.raises(TokenRefused, match="not for this server"):
        await check.verify(token)


async def test_key_rotation_new_keys_are_fetched_and_retired_ones_refused(workdir):
    first, second = signing_key("rot-1"), signing_key("rot-2")
    with identity_provider(workdir, [first]) as idp:
        http, clock = Counted(), Clock()
        check = verifier(idp, http=http.client, clock=clock)
        old = idp.sign_in("marie")
        assert (await check.verify(old)).subject == "marie"
        assert http.count("jwks") == 1

        idp.use_keys([second, first])  # the provider signs with a new key, and still publishes the old one
        new = idp.sign_in("marie")
        assert (await check.verify(new)).subject == "marie"  # the unknown kid read the key set again
        assert http.count("jwks") == 2
        assert (await check.verify(old)).subject == "marie"

        idp.use_keys([second])  # the old key is retired
        assert (await check.verify(old)).subject == "marie"  # until the key set is read again
        clock.now += signin.JWKS_MAX_AGE
        with pytest.raises(TokenRefused, match="'rot-1', which the provider does not publish"):
            await check.verify(old)
        assert (await check.verify(new)).subject == "marie"
        with pytest.raises(TokenRefused, match="does not publish"):
            await verifier(idp).verify(old)  # a replica started after the rotation never trusts it
    await http.client.aclose()


async def test_a_flood_of_unknown_keys_reads_the_key_set_once_per_interval(idp, bad_tokens):
    http, clock = Counted(), Clock()
    check = verifier(idp, http=http.client, clock=clock)
    await check.verify(idp.sign_in("marie"))
    foreign = bad_tokens["from another provider"]
    for _ in range(20):
        with pytest.raises(TokenRefused):
            await check.verify(foreign)
    assert http.count("jwks") == 2  # the first read, and one refetch for the unknown kid
    clock.now += signin.REFETCH_SECONDS
    with pytest.raises(TokenRefused):
        await check.verify(foreign)
    assert http.count("jwks") == 3
    await http.client.aclose()


async def test_rfc8414_discovery_is_used_when_there_is_no_openid_configuration(workdir, keys):
    with identity_provider(workdir, keys, discovery="rfc8414") as idp:
        check = verifier(idp)
        assert (await check.metadata()).found_at == f"{idp.issuer}/.well-known/oauth-authorization-server"
        assert (await check.verify(idp.sign_in("julien"))).subject == "julien"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_discovery_failures_say_what_was_tried_and_what_to_fix(idp, workdir, keys):
    down = OidcVerifier(f"http://127.0.0.1:{free_port()}", RESOURCE)
    with pytest.raises(SignInUnavailable) as caught:
        await down.metadata()
    assert "cannot connect" in str(caught.value) and "Check SIPSIM_MCP_OAUTH_ISSUER" in str(caught.value)
    assert await down.verify_token(idp.sign_in("marie")) is None  # refused (401), never a crash

    missing = OidcVerifier(f"{idp.issuer}/tenant-b", RESOURCE)
    with pytest.raises(SignInUnavailable, match=r"/tenant-b/.well-known/openid-configuration: HTTP 404"):
        await missing.metadata()

    with identity_provider(workdir, keys, issuer="https://login.acme.test") as impostor:
        wrong = OidcVerifier(impostor.url, RESOURCE)
        with pytest.raises(SignInUnavailable, match=r"names the issuer 'https://login\.acme\.test', not 'http://127"):
            await wrong.metadata()


async def test_a_provider_down_when_the_server_starts_is_tried_again(workdir, keys):
    port, clock = free_port(), Clock()
    check = OidcVerifier(f"http://127.0.0.1:{port}", RESOURCE, clock=clock)
    with pytest.raises(SignInUnavailable):
        await check.metadata()
    with identity_provider(workdir, keys, port=port) as idp:
        token = idp.sign_in("marie")
        with pytest.raises(SignInUnavailable):
            await check.verify(token)  # within the retry interval: the last failure stands
        clock.now += signin.RETRY_SECONDS
        assert (await check.verify(token)).subject == "marie"


async def test_doctor_shows_the_sign_in_mode_and_checks_it_end_to_end(idp, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[roles.viewer]\ntools = ["list_calls"]\n[[grants]]\nrole = "viewer"\n')
    settings = load_settings(
        mcp_oauth_issuer=idp.issuer,
        mcp_public_url=RESOURCE,
        mcp_oauth_client_id=SERVER[0],
        mcp_oauth_client_secret=SERVER[1],
        policy=policy,
    )
    report = await diagnose(settings)
    checks = {c.name: (c.status, c.detail) for c in report.checks}
    assert [name for name in checks if name in SIGN_IN_CHECKS] == SIGN_IN_CHECKS
    assert {checks[name][0] for name in SIGN_IN_CHECKS} == {"ok"}
    assert checks["sign-in"][1] == f"each person signs in with {idp.issuer}; tokens must be issued for {RESOURCE}; " + (
        "opaque tokens are introspected"
    )
    assert checks["policy"][1] == f"{policy}: roles viewer; 1 grant(s)"
    assert checks["discovery"][1] == f"{idp.issuer}/.well-known/openid-configuration names the issuer {idp.issuer}"
    assert "2 signature key(s)" in checks["jwks"][1] and "(ES256, RS256)" in checks["jwks"][1]
    assert SERVER[1] not in report.model_dump_json()

    without = await check_sign_in(
        settings.model_copy(update={"mcp_oauth_client_secret": None, "mcp_oauth_client_id": None})
    )
    assert [c.name for c in without] == ["sign-in", "policy", "discovery", "jwks"]
    bad_secret = await check_sign_in(settings.model_copy(update={"mcp_oauth_client_secret": SecretStr("wrong")}))
    assert (bad_secret[-1].name, bad_secret[-1].status) == ("introspection", "fail")
    assert "check SIPSIM_MCP_OAUTH_CLIENT_ID" in bad_secret[-1].detail
    policy.write_text('[roles.viewer]\ntools = ["list_callz"]\n')
    down = await check_sign_in(settings.model_copy(update={"mcp_oauth_issuer": f"http://127.0.0.1:{free_port()}"}))
    assert [(c.name, c.status) for c in down] == [("sign-in", "ok"), ("policy", "fail"), ("discovery", "fail")]
    assert f"{policy}, line 2: roles.viewer.tools: 'list_callz' is not a tool" in down[1].detail
    [none] = await check_sign_in(load_settings())
    assert (none.name, none.status) == ("sign-in", "ok") and none.detail.startswith("none: HTTP clients are served")
    scoped = await check_sign_in(settings.model_copy(update={"mcp_oauth_scopes": frozenset({"sipsim"})}))
    assert scoped[0].detail.startswith(f"each person signs in with {idp.issuer}; tokens must be issued for ")
    assert f"{RESOURCE} with the scope sipsim; opaque" in scoped[0].detail
    shared = await check_sign_in(load_settings(mcp_auth_token="t" * 40))
    assert [(c.status, c.detail) for c in shared] == [
        ("ok", "HTTP clients send one shared bearer token (SIPSIM_MCP_AUTH_TOKEN)")
    ]


SIGN_IN_CHECKS = ["sign-in", "policy", "discovery", "jwks", "introspection"]


async def test_the_sdk_carries_the_identity_to_a_tool_and_answers_401_otherwise(idp):
    """The seam the server is wired through: the SDK's bearer middleware calls the verifier, and a tool
    handler finds the person with current_identity()."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    server = MCPServer(
        "whoami",
        token_verifier=OidcVerifier(idp.issuer, url),
        auth=AuthSettings(issuer_url=idp.issuer, resource_server_url=url, validate_token_resource=False),
    )

    @server.tool()
    def whoami() -> str:
        person = current_identity()
        return f"{person.subject} {person.email} {person.claims['groups']}" if person else "nobody"

    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not running.started:  # noqa: ASYNC110 - uvicorn's flag, set in its thread
        await anyio.sleep(0.01)
    try:
        token = idp.sign_in("julien", url)
        bearer = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=bearer) as http,
            Client(streamable_http_client(url, http_client=http)) as c,
        ):
            result = await c.call_tool("whoami", {})
        assert result.content[0].text == "julien julien.bernard@acme.test ['support', 'night']"  # type: ignore[union-attr]
        async with httpx.AsyncClient() as plain:
            for headers in ({}, {"Authorization": f"Bearer {idp.sign_in('julien')}"}):  # none; another audience
                refused = await plain.post(url, json={}, headers=headers)
                assert refused.status_code == 401
                assert (
                    f'resource_metadata="http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"'
                    in (refused.headers["www-authenticate"])
                )
            metadata = (await plain.get(f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp")).json()
        assert metadata["resource"] == url and metadata["authorization_servers"] == [idp.issuer]
    finally:
        running.should_exit = True
        thread.join(10)
        sock.close()
