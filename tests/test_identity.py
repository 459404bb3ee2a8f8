"""Who is asking: a signed-in person's identity read from their token's claims, and "me" matched to a SIPSIM
employee, which the API allows only through the policy's table of addresses or an exact full name (SIPSIM
gives employees no email)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from mcp.server.auth.provider import AccessToken

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.language.directory import Directory, LookupFailed
from sipsim_mcp.language.identity import Identity, current_identity

from .conftest import NOW, settings_for
from .mcp_helpers import connect, error_text
from .test_builders import IN_PROCESS

pytestmark = pytest.mark.anyio

ISSUER = "https://login.acme.test"


@pytest.mark.parametrize(
    ("claims", "email", "name"),
    [
        ({"email": "marie@acme.com", "name": "Marie  Dupont"}, "marie@acme.com", "Marie Dupont"),
        ({"email": "marie@acme.com", "email_verified": False}, None, None),
        ({"preferred_username": "marie@acme.onmicrosoft.com"}, "marie@acme.onmicrosoft.com", None),  # Entra
        ({"preferred_username": "marie", "upn": "marie@acme.com"}, "marie@acme.com", None),
        ({"given_name": "Marie", "family_name": "Dupont"}, None, "Marie Dupont"),
        ({"email": "not-an-address", "name": " "}, None, None),
    ],
)
def test_the_identity_in_a_tokens_claims(claims, email, name):
    person = Identity.from_claims({"sub": "u1", "iss": ISSUER, **claims})
    assert (person.subject, person.issuer, person.email, person.name) == ("u1", ISSUER, email, name)
    assert person.label == (email or name or "u1")


def test_the_shared_token_and_no_token_are_nobody():
    shared = AccessToken(token="t", client_id="sipsim-mcp-http", scopes=[])
    assert Identity.from_access_token(shared) is None
    assert current_identity() is None  # no HTTP request signed in here
    signed = AccessToken(
        token="t", client_id="app", scopes=["sipsim"], subject="u1", claims={"iss": ISSUER, "sub": "u1"}
    )
    assert Identity.from_access_token(signed) == Identity("u1", ISSUER, scopes=frozenset({"sipsim"}), client_id="app")


@pytest.fixture
async def directory(shared_sandbox) -> AsyncIterator[Directory]:
    settings = settings_for(IN_PROCESS)
    async with SipsimClient(settings, transport=httpx.ASGITransport(app=shared_sandbox.app)) as api:
        yield Directory(api, now=lambda: NOW)


def person(name: str | None, email: str = "someone@acme.com") -> Identity:
    return Identity("u1", ISSUER, email=email, name=name)


async def test_me_is_the_employee_the_policy_maps_the_address_to(directory):
    me = await directory.me(person("Sophie M."), mapped=7)
    assert (me.employee.id, me.employee.name, me.how) == (7, "Sophie Moreau", "policy")


async def test_me_is_the_one_employee_with_the_persons_full_name(directory):
    me = await directory.me(person("julien BERNARD"))
    assert (me.employee.id, me.employee.name, me.how) == (3, "Julien Bernard", "name")
    accented = await directory.me(person("Chloe Fontaine"))
    assert (accented.employee.id, accented.how) == (10, "name")


@pytest.mark.parametrize("name", ["Marie", "Marie Curie", None])
async def test_me_without_a_mapping_or_an_exact_name_says_why_and_what_to_do(directory, name):
    with pytest.raises(LookupFailed) as failed:
        await directory.me(person(name, "marie@acme.com"))
    message = str(failed.value)
    assert "Cannot tell which SIPSIM employee you (marie@acme.com" in message
    assert "SIPSIM's API gives employees no email address" in message
    assert "under [employees] in the policy file (SIPSIM_POLICY)" in message


async def test_me_as_an_employee_reference_is_the_person_asking(directory):
    mapped = await directory.employee("me", Identity("u1", ISSUER, name="Someone", employee=7))
    assert (mapped.id, mapped.name, mapped.matched) == (7, "Sophie Moreau", "you, by your address in the policy")
    named = await directory.employee(" Myself ", person("Julien Bernard"))
    assert (named.id, named.matched) == (3, "you, by your full name")
    assert (await directory.employee("Julien")).matched is None  # a name given is no "me"


async def test_me_without_sign_in_says_to_name_the_employee(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        answer = error_text(await client.call_tool("list_calls", {"employees": ["me"]}))
    assert answer == (
        "'me' stands for the person signed in to this server, and this connection has none (stdio, or one token "
        "shared by everyone): name the employee (name or id) instead."
    )


def test_a_persons_key_is_stable_and_their_own():
    marie = Identity("marie", ISSUER, email="marie@acme.com")
    assert marie.key == Identity("marie", ISSUER).key  # the address may change; the subject does not
    assert marie.key != Identity("marie", "https://login.other.test").key != Identity("julien", ISSUER).key
    assert marie.audited() == {"sub": "marie", "iss": ISSUER, "email": "marie@acme.com"}
    assert Identity("julien", ISSUER).audited() == {"sub": "julien", "iss": ISSUER}
