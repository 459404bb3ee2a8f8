"""Where the docs disagree on a scope, SIPSIM's answer decides; token answers and refusals in any plausible form."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from pydantic import SecretStr

from sipsim_mcp.api.auth import TokenProvider
from sipsim_mcp.api.errors import TokenError
from sipsim_mcp.api.models import TokenResponse
from sipsim_mcp.sandbox import ALL_SCOPES, ClientSpec, Fault, Sandbox, SandboxConfig

from .conftest import NOW, settings_for
from .mcp_helpers import connect, data, error_text

pytestmark = pytest.mark.anyio

RING = {"line": "Sales", "number": "+33 6 12 34 56 78"}
BOTH = "phones.read calls.create calls.write"


def posts(sandbox: Sandbox) -> list[tuple[int, tuple[str, ...] | None]]:
    return [(r.status, r.token_scopes) for r in sandbox.requests if r.method == "POST" and r.path == "/api/v2/calls"]


async def test_a_403_with_one_documented_scope_is_tried_once_with_the_other(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/calls", status=403, errors=["Insufficient scope"]))
    async with connect(sandbox, confirm_writes="host", scopes=BOTH) as (client, _):
        result = data(await client.call_tool("start_call", RING))
    assert result["outcome"] == "done"
    assert posts(sandbox) == [(403, ("calls.create",)), (201, ("calls.write",))]
    assert len(sandbox.data.initiated_calls) == 1  # the phone rang once


async def test_when_both_scopes_are_refused_the_message_names_them_and_the_setting(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/calls", status=403, errors=["Insufficient scope"], times=2))
    async with connect(sandbox, confirm_writes="host", scopes=BOTH) as (client, _):
        text = error_text(await client.call_tool("start_call", RING))
    assert len(posts(sandbox)) == 2 and sandbox.data.initiated_calls == []
    assert "sent with the scope calls.create and then calls.write" in text
    assert "SIPSIM_SCOPES" in text and "Invalid arguments" not in text


async def test_a_scope_sipsim_does_not_grant_falls_back_to_the_other():
    without_create = ClientSpec(
        "demo", "demo-secret", scopes=frozenset(ALL_SCOPES) - {"calls.create"}, narrow_scopes=True
    )
    with Sandbox(SandboxConfig(anchor=NOW, calls=200, clients=[without_create])) as sandbox:
        async with connect(sandbox, confirm_writes="host", scopes=BOTH) as (client, _):
            result = data(await client.call_tool("start_call", RING))
        assert result["outcome"] == "done" and posts(sandbox) == [(201, ("calls.write",))]


async def test_invalid_scope_names_the_exact_scope_asked_for():
    limited = ClientSpec("demo", "demo-secret", scopes=frozenset({"account.read"}))
    with Sandbox(SandboxConfig(anchor=NOW, calls=200, clients=[limited])) as sandbox:
        async with connect(sandbox, scopes="account.read tags.read") as (client, _):
            text = error_text(await client.call_tool("list_tags", {}))
    assert "invalid_scope" in text and "The scope asked for was tags.read." in text


def provider(answer: httpx.Response) -> TokenProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: answer))
    return TokenProvider(http, token_url="https://sipsim.test/oauth/token", client_id="c", client_secret=SecretStr("s"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "invalid_scope", "error_description": "unknown scope"}, "invalid_scope: unknown scope"),
        ({"status": 400, "errors": ["Scope calls.create is not enabled"]}, "Scope calls.create is not enabled"),
        ({"status": 400, "errors": "Scope not allowed"}, "Scope not allowed"),
        ({"errors": [{"field": "scope", "message": "not allowed"}]}, "scope: not allowed"),
        ({"message": "Scope not allowed"}, "Scope not allowed"),
    ],
)
async def test_token_endpoint_errors_keep_their_text_in_either_form(body, expected):
    with pytest.raises(TokenError) as failure:
        await provider(httpx.Response(400, json=body)).token(frozenset({"calls.create"}))
    assert expected in str(failure.value)
    assert "The scope asked for was calls.create." in str(failure.value)


@pytest.mark.parametrize(
    ("answer", "scopes", "lifetime"),
    [
        ({"scope": "calls.read,tags.read", "expires_in": "3600"}, {"calls.read", "tags.read"}, 3600),
        ({"scope": "calls.read, tags.read", "expires_in": None}, {"calls.read", "tags.read"}, 7200),
        ({"scope": "calls.read", "created_at": "yesterday"}, {"calls.read"}, 7200),
        ({"scope": ["calls.read"], "expires_in": "soon"}, {"calls.read"}, 7200),
    ],
)
def test_token_answers_are_read_leniently(answer, scopes, lifetime):
    body = TokenResponse.model_validate({"access_token": "t", **answer})
    assert set((body.scope or "").split()) == scopes and body.expires_in == lifetime


async def test_a_loose_token_answer_still_serves_every_tool_scope():
    with Sandbox(SandboxConfig(anchor=NOW, calls=200, variant="loose_token")) as sandbox:
        async with connect(sandbox) as (client, _):
            assert data(await client.call_tool("list_tags", {}))
            assert data(await client.call_tool("list_calls", {"limit": 3}))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": 422, "errors": ["name is required"], "request_id": "r-1"}, "name is required"),
        ({"status": 422, "errors": "name is required", "request_id": "r-1"}, "name is required"),
        ({"errors": [{"field": "name", "message": "is required"}], "request_id": "r-1"}, "name: is required"),
        ({"errors": {"name": ["is required"]}, "request_id": "r-1"}, "name: is required"),
        ({"message": "name is required", "request_id": "r-1"}, "name is required"),
        (["name is required"], "name is required"),
    ],
)
async def test_api_error_envelopes_in_any_form_become_readable_text(body, expected):
    from sipsim_mcp.api import endpoints as ep
    from sipsim_mcp.api.client import SipsimClient
    from sipsim_mcp.api.errors import SipsimAPIError

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "scope": "tags.write"})
        return httpx.Response(422, json=body)

    settings = settings_for(
        SimpleNamespace(api_url="https://sipsim.test/api/v2", token_url="https://sipsim.test/oauth/token"),
        scopes="tags.write",
    )
    async with SipsimClient(settings, transport=httpx.MockTransport(answer)) as api:
        with pytest.raises(SipsimAPIError) as failure:
            await api.request(ep.CREATE_TAG, json_body={"name": ""})
    assert expected in str(failure.value) and failure.value.status == 422
    assert failure.value.request_id == ("r-1" if isinstance(body, dict) else None)
