"""Team sign-in end to end, against a real OpenID provider (oidc-provider, started by the tests) and the real
server over HTTP: each person gets the tools of their roles (README's policy file), bad tokens are answered
401 with where to sign in, a token without the server's scope 403; "me" is the person asking; every audit
line names them; codes and forms work only for the person who saw the preview, across two stateless server
processes; and the Python SDK's OAuth client signs in by discovery alone."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitResult, InputRequiredResult, PromptReference

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.mcp.http import http_app, server_config
from sipsim_mcp.mcp.policy import READS, WRITES

from .conftest import NOW, settings_for
from .external import ROOT
from .idp import REDIRECT, RESOURCE, IdentityProvider, identity_provider, signing_key
from .mcp_helpers import RECEIVER, data, error_text, writes
from .replicas import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.external, pytest.mark.clock]

SCOPE = "sipsim"
VIEWER = {"list_calls", "get_call", "summarize_calls", "list_phones", "get_phone", "list_tags"}
AGENT = VIEWER | READS | {"tag_call", "untag_call", "start_call"}
RING = {"line": "Sales", "number": "+33 6 12 34 56 78"}


def readme_policy() -> str:
    """README's policy file (Sign-in for a team), with the tests' provider's addresses."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Sign-in for a team", 1)[1].split("\n## ", 1)[0]
    [policy] = re.findall(r"```toml\n(.*?)```", section, re.S)
    return policy.replace("@acme.com", "@acme.test")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("team")


@pytest.fixture(scope="module")
def keys() -> list[dict[str, Any]]:
    return [signing_key("team-1")]


@pytest.fixture(scope="module")
def idp(workdir: Path, keys: list[dict[str, Any]]) -> Iterator[IdentityProvider]:
    with identity_provider(workdir, keys) as provider:
        yield provider


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(readme_policy())
    return path


@contextmanager
def serving(sandbox: Any, idp: IdentityProvider, policy: Path | None, **overrides: Any) -> Iterator[str]:
    """The server with team sign-in (and the webhook receiver: every tool is offered), on a free loopback port
    (its own URL the tokens' audience unless `mcp_public_url` says otherwise); yield its /mcp URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings_for(
        sandbox, mcp_oauth_issuer=idp.issuer, mcp_oauth_scopes=SCOPE, policy=policy, **{**RECEIVER, **overrides}
    )
    app = http_app(settings, host="127.0.0.1", port=port, api=SipsimClient(settings), now=lambda: NOW)
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@asynccontextmanager
async def signed_in(url: str, token: str, **options: Any) -> AsyncIterator[Client]:
    """A real MCP client sending `token`."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), **options) as client,
    ):
        yield client


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


def confirmed(arguments: dict[str, Any], preview: dict[str, Any]) -> dict[str, Any]:
    return {**arguments, "confirmation_code": preview["confirmation_code"]}


def rings(sandbox: Any) -> list[Any]:
    return [r for r in writes(sandbox, "POST") if r.path == "/api/v2/calls"]


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "state" / "sipsim-mcp" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_each_person_gets_the_tools_and_writes_of_their_roles(sandbox, idp, policy, tmp_path):
    with serving(sandbox, idp, policy) as url:
        async with signed_in(url, idp.sign_in("julien", url)) as viewer:
            julien = (await viewer.list_tools()).tools
            refused = error_text(await viewer.call_tool("start_call", RING))
            not_a_viewer_tool = error_text(await viewer.call_tool("get_account", {}))
            calls = data(await viewer.call_tool("list_calls", {"since": "yesterday", "limit": 2}))
        async with signed_in(url, idp.sign_in("marie", url)) as agent:
            marie = await tool_names(agent)
            preview = data(await agent.call_tool("start_call", RING))
            done = data(await agent.call_tool("start_call", confirmed(RING, preview)))
            no_line_settings = error_text(await agent.call_tool("update_phone", {"line": "Sales", "voicemail": False}))
        async with signed_in(url, idp.sign_in("claire", url)) as admin:
            claire = await tool_names(admin)
            change = {"line": "Support", "voicemail": False}
            shown = data(await admin.call_tool("update_phone", change))
            changed = data(await admin.call_tool("update_phone", confirmed(change, shown)))

    assert {tool.name for tool in julien} == VIEWER and not VIEWER & WRITES
    assert refused == (
        "start_call changes the account, and the role of julien.bernard@acme.test (viewer) does not allow it. "
        "Nothing was done. An administrator can add 'start_call' to the writes of it in the policy file "
        "(SIPSIM_POLICY); tools/list shows what they may use."
    )
    assert "get_account is a tool, and the role of julien.bernard@acme.test (viewer) does not allow it" in (
        not_a_viewer_tool
    )
    assert calls["returned"] == 2
    # the viewer's list is built for them: each parameter still says what it is where it first appears
    described = {name for tool in julien for name, schema in tool.input_schema["properties"].items() if schema}
    assert {"since", "until", "timezone", "employees", "line"} <= described

    assert marie == AGENT and "update_phone" not in marie and "create_tag" not in marie
    assert done["outcome"] == "done" and len(rings(sandbox)) == 1
    assert "update_phone changes the account, and the roles of marie.dupont@acme.test (agent, viewer)" in (
        no_line_settings
    )

    assert claire == READS | WRITES
    assert changed["outcome"] == "done"
    [patch] = [r for r in writes(sandbox, "PATCH") if r.path.startswith("/api/v2/phones/")]
    assert patch.body == {"voicemail_setting": {"allow_voicemail": False}}

    # every audit line names the person who asked
    people = {(line["tool"], line["outcome"]): line.get("person") for line in audit_lines(tmp_path)}
    assert people["start_call", "done"] == {"sub": "marie", "iss": idp.issuer, "email": "marie.dupont@acme.test"}
    assert people["update_phone", "done"] == {"sub": "claire", "iss": idp.issuer, "email": "claire.vidal@acme.test"}
    assert all(person is not None for person in people.values())


async def test_me_is_the_person_asking_or_the_answer_says_why_not(sandbox, idp, policy):
    with serving(sandbox, idp, policy) as url:
        async with signed_in(url, idp.sign_in("marie", url)) as marie:
            mine = data(await marie.call_tool("list_calls", {"employees": ["me"], "since": "last_7_days"}))
        async with signed_in(url, idp.sign_in("julien", url)) as julien:
            counted = data(await julien.call_tool("summarize_calls", {"employees": ["Me"], "since": "last_7_days"}))
        async with signed_in(url, idp.sign_in("claire", url)) as claire:
            unknown = error_text(await claire.call_tool("list_calls", {"employees": ["me"]}))
    assert mine["filters"]["employees"] == ["Marie Dupont (id 1: you, by your address in the policy)"]
    assert mine["calls"] and {row["employee"] for row in mine["calls"]} == {"Marie Dupont"}
    assert counted["filters"]["employees"] == ["Julien Bernard (id 3: you, by your full name)"]
    assert counted["totals"]["calls"] > 0
    assert unknown.startswith(
        "Cannot tell which SIPSIM employee you (claire.vidal@acme.test 'Claire Vidal') are: SIPSIM's API gives "
        "employees no email address, and your name is not the full name of an employee"
    )
    assert "add your address with your employee id under [employees] in the policy file" in unknown


async def test_without_a_policy_everyone_signed_in_reads_and_nobody_writes(sandbox, idp):
    with serving(sandbox, idp, None) as url:
        async with signed_in(url, idp.sign_in("claire", url)) as claire:
            names = await tool_names(claire)
            refused = error_text(await claire.call_tool("create_tag", {"name": "Nope"}))
    assert names == READS
    assert refused == (
        "create_tag changes the account, and this server has no policy file, so people signed in may use the read "
        "tools only. Nothing was done. An administrator can give roles with a policy file (SIPSIM_POLICY, README: "
        "Sign-in for a team)."
    )
    assert writes(sandbox) == []


async def test_resources_and_completions_show_what_the_persons_tools_would(sandbox, idp, tmp_path):
    narrow = tmp_path / "narrow.toml"
    narrow.write_text('[roles.lines]\ntools = ["list_calls", "list_phones"]\n[[grants]]\nrole = "lines"\n')
    tag_review = PromptReference(type="ref/prompt", name="tag_review")
    missed = PromptReference(type="ref/prompt", name="missed_calls_report")
    with serving(sandbox, idp, narrow) as url:
        async with signed_in(url, idp.sign_in("claire", url)) as claire:
            listed = {str(item.uri) for item in (await claire.list_resources()).resources}
            templates = (await claire.list_resource_templates()).resource_templates
            lines = json.loads((await claire.read_resource("sipsim://lines")).contents[0].text)  # type: ignore[union-attr]
            with pytest.raises(MCPError) as account:
                await claire.read_resource("sipsim://account")
            with pytest.raises(MCPError) as call:
                await claire.read_resource("sipsim://calls/1")
            with pytest.raises(MCPError) as live:
                await claire.read_resource("sipsim://calls/live")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the SDK flags resources/subscribe as of 2025
                with pytest.raises(MCPError) as watched:
                    await claire.session.subscribe_resource("sipsim://calls/live")
            no_tags = await claire.complete(tag_review, {"name": "tag", "value": "V"})
            line_names = await claire.complete(missed, {"name": "line", "value": "Sal"})
    with serving(sandbox, idp, None) as url:  # without a policy: every read tool, so every resource
        async with signed_in(url, idp.sign_in("claire", url)) as reader:
            tags = await reader.complete(tag_review, {"name": "tag", "value": "V"})
            everything = {str(item.uri) for item in (await reader.list_resources()).resources}
            now = json.loads((await reader.read_resource("sipsim://calls/live")).contents[0].text)  # type: ignore[union-attr]
    assert "sipsim://lines" in listed and not listed & {"sipsim://account", "sipsim://tags"}
    assert templates == [] and any(line["name"] == "Sales" for line in lines)
    assert str(account.value) == (
        "The resource sipsim://account shows what get_account does, which claire.vidal@acme.test may not use "
        "(see tools/list)."
    )
    assert "shows what get_call does" in str(call.value)
    assert not listed & {"sipsim://calls/live", "sipsim://events/recent"}  # live calls are recent_call_events'
    assert "shows what recent_call_events does" in str(live.value) and "recent_call_events" in str(watched.value)
    assert {"sipsim://calls/live", "sipsim://events/recent"} <= everything and now["calls"] == []
    assert no_tags.completion.values == [] and line_names.completion.values == ["Sales", "Sales Germany"]
    assert "VIP" in tags.completion.values and {"sipsim://account", "sipsim://tags"} <= everything


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


async def test_bad_tokens_get_401_with_where_to_sign_in_and_a_missing_scope_403(sandbox, idp, policy, workdir, keys):
    """Behind a proxy: clients know the server as RESOURCE (SIPSIM_MCP_PUBLIC_URL), which the tokens name."""
    public = "https://mcp.acme.test"
    with serving(sandbox, idp, policy, mcp_public_url=RESOURCE) as url:
        good = idp.sign_in("marie")
        header, payload, signature = good.split(".")
        tokens = {
            "none": None,
            "another audience": idp.sign_in("marie", "https://other.acme.test/api"),
            "tampered": f"{header}.{_b64({**_unb64(payload), 'groups': ['it']})}.{signature}",
        }
        with identity_provider(workdir, keys, issuer=idp.issuer, clock_offset=-3600) as late:
            tokens["expired"] = late.sign_in("marie")
        with identity_provider(workdir, keys) as other:
            tokens["another issuer"] = other.sign_in("marie")
        tokens["without the scope"] = idp.sign_in("marie", "urn:acme:other-scope", scope="calendar")
        async with httpx.AsyncClient(timeout=30) as http:
            answers = {}
            for kind, token in {**tokens, "good": good}.items():
                headers = {"Accept": "application/json, text/event-stream"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                answers[kind] = await http.post(url, json=INITIALIZE, headers=headers)
            origin = url.removesuffix("/mcp")
            metadata = (await http.get(f"{origin}/.well-known/oauth-protected-resource/mcp")).json()
            at_root = (await http.get(f"{origin}/.well-known/oauth-protected-resource")).json()
    assert answers.pop("good").status_code == 200
    scoped = answers.pop("without the scope")
    for kind, answer in answers.items():
        assert answer.status_code == 401, kind
        challenge = answer.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and "insufficient_scope" not in challenge
        assert f'resource_metadata="{public}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert scoped.status_code == 403
    challenge = scoped.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="sipsim"' in challenge
    assert metadata == at_root
    assert (metadata["resource"], metadata["authorization_servers"], metadata["scopes_supported"]) == (
        RESOURCE,
        [idp.issuer],
        [SCOPE],
    )


async def test_a_token_signed_with_a_retired_key_is_refused(sandbox, workdir, policy):
    first, second = signing_key("old-1"), signing_key("new-2")
    with identity_provider(workdir, [first]) as idp, serving(sandbox, idp, policy) as url:
        old = idp.sign_in("julien", url)
        async with signed_in(url, old) as client:
            before = await tool_names(client)
        idp.use_keys([second])  # the provider rotates: signs with a new key and no longer publishes the old
        async with signed_in(url, idp.sign_in("julien", url)) as client:
            after = await tool_names(client)  # an unknown key: the server reads the key set again
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.post(url, json=INITIALIZE, headers={"Authorization": f"Bearer {old}"})
    assert before == after == VIEWER
    assert refused.status_code == 401 and "resource_metadata=" in refused.headers["www-authenticate"]


def _b64(part: dict[str, Any]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _unb64(part: str) -> dict[str, Any]:
    import base64

    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


RING_TOO = {"line": "Sales", "number": "+33 6 98 76 54 32"}


async def test_stateless_replicas_accept_each_person_and_bind_codes_and_forms_to_them(sandbox, idp, policy, tmp_path):
    """Two server processes behind one public URL, sharing the embedded state store: a token works on
    either; a code previewed on one and a form answered through one complete on the other, for the person
    who saw them only."""
    env = {
        "SIPSIM_MCP_OAUTH_ISSUER": idp.issuer,
        "SIPSIM_MCP_PUBLIC_URL": RESOURCE,
        "SIPSIM_MCP_OAUTH_SCOPES": SCOPE,
        "SIPSIM_POLICY": str(policy),
    }
    marie, claire = idp.sign_in("marie"), idp.sign_in("claire")
    servers = [ServerProcess(sandbox, tmp_path / f"replica-{i}.log", stateless=True, **env) for i in range(2)]
    try:
        a, b = (server.start() for server in servers)
        offered = []
        for server in (a, b):
            async with signed_in(server.url, marie, mode="legacy") as client:
                offered.append(await tool_names(client))
        async with signed_in(a.url, marie, mode="legacy") as on_a:
            preview = data(await on_a.call_tool("start_call", RING))
        with_code = confirmed(RING, preview)
        async with signed_in(b.url, claire, mode="legacy") as someone_else:
            stolen = error_text(await someone_else.call_tool("start_call", with_code))
        rang_for_claire = len(rings(sandbox))
        async with signed_in(b.url, marie, mode="legacy") as on_b:
            done = data(await on_b.call_tool("start_call", with_code))

        accept = ElicitResult(action="accept", content={"confirm": True})
        async with signed_in(a.url, marie, elicitation_callback=_never_asked) as modern:
            assert modern.protocol_version == "2026-07-28"
            form = await modern.session.call_tool("start_call", RING_TOO, allow_input_required=True)
        assert isinstance(form, InputRequiredResult) and form.request_state
        answered = {"input_responses": {"confirm": accept}, "request_state": form.request_state}
        async with signed_in(b.url, claire, elicitation_callback=_never_asked) as someone_else:
            with pytest.raises(MCPError, match="requestState"):
                await someone_else.session.call_tool("start_call", RING_TOO, **answered)
        async with signed_in(b.url, marie, elicitation_callback=_never_asked) as modern:
            by_form = data(await modern.session.call_tool("start_call", RING_TOO, **answered))
    finally:
        for server in servers:
            server.stop()

    unoffered = {"get_transcription", "get_summary", "list_webhook_events"}  # scopes
    assert offered[0] == offered[1] == AGENT - unoffered - {"recent_call_events"}  # and no webhook receiver
    assert "issued for a different request" in stolen and "to another signed-in person" in stolen
    assert rang_for_claire == 0
    assert done["outcome"] == "done" and by_form["outcome"] == "done"
    assert [r.body["number"] for r in rings(sandbox)] == ["+33612345678", "+33698765432"]
    done_by = [line["person"]["sub"] for line in audit_lines(tmp_path) if line["outcome"] == "done"]
    refused_for = [line["person"]["sub"] for line in audit_lines(tmp_path) if line["outcome"] == "refused"]
    assert done_by == ["marie", "marie"] and refused_for == ["claire"]


async def _never_asked(context: Any, params: Any) -> ElicitResult:
    raise AssertionError("a 2026-07-28 form is answered by the test, not through a live request")


class Browser:
    """The parts of an MCP client a person provides: a browser that opens the authorization URL (here the
    provider's test interaction signs `login` in), and the redirect the client then receives."""

    def __init__(self, idp: IdentityProvider, login: str) -> None:
        self.idp = idp
        self.login = login
        self.opened: list[str] = []
        self.redirect: httpx.URL | None = None

    async def open(self, url: str) -> None:
        self.opened.append(url)
        self.redirect = self.idp.authorize(url, self.login)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.redirect is not None
        params = self.redirect.params
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


class Memory:
    """The OAuth client's storage (its registration and tokens), in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def test_the_sdk_oauth_client_signs_in_by_discovery_alone(sandbox, idp, policy):
    """Given only the server's URL, the Python SDK's OAuth client reads the 401's metadata URL, the
    provider's discovery, registers itself (RFC 7591), sends the person through the authorization
    endpoint with PKCE and the resource, gets a token and calls a tool as that person."""
    with serving(sandbox, idp, policy) as url:
        browser, storage = Browser(idp, "marie"), Memory()
        oauth = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name="sipsim-mcp tests", redirect_uris=[REDIRECT], grant_types=["authorization_code"]
            ),
            storage=storage,
            redirect_handler=browser.open,
            callback_handler=browser.callback,
        )
        seen: list[str] = []

        async def record(request: httpx2.Request) -> None:
            seen.append(f"{request.method} {request.url}")

        async with (
            httpx2.AsyncClient(auth=oauth, timeout=60, event_hooks={"request": [record]}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            names = await tool_names(client)
            mine = data(await client.call_tool("list_calls", {"employees": ["me"], "limit": 1}))
    origin = url.removesuffix("/mcp")
    assert f"GET {origin}/.well-known/oauth-protected-resource/mcp" in seen
    assert f"GET {idp.issuer}/.well-known/oauth-authorization-server" in seen or (
        f"GET {idp.issuer}/.well-known/openid-configuration" in seen
    )
    assert f"POST {idp.issuer}/reg" in seen and f"POST {idp.issuer}/token" in seen
    [opened] = browser.opened
    asked = httpx.URL(opened).params
    assert (asked["resource"], asked["scope"], asked["code_challenge_method"]) == (url, SCOPE, "S256")
    assert storage.tokens is not None and storage.client is not None
    assert names == AGENT
    assert mine["filters"]["employees"] == ["Marie Dupont (id 1: you, by your address in the policy)"]
