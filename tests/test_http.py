"""The streamable HTTP transport driven by a client over a real socket: loopback without a token, a
bearer token when set (and required off loopback), the Host allow-list, and stateless mode."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.api.config import ConfigError
from sipsim_mcp.mcp.http import http_app, security, server_config

from .conftest import NOW, settings_for
from .mcp_helpers import MODES, data, writes

pytestmark = pytest.mark.anyio

TOKEN = "t0k3n-" + "x" * 40


@contextmanager
def serving(sandbox, *, host: str = "127.0.0.1", stateless: bool = False, **overrides: Any) -> Iterator[str]:
    """Serve MCP over HTTP on a free port of `host`; yield the port as a string."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    settings = settings_for(sandbox, **overrides)
    api = SipsimClient(settings)
    app = http_app(settings, host=host, port=port, stateless=stateless, api=api, now=lambda: NOW)
    server = uvicorn.Server(server_config(app, settings, host=host, port=port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield str(port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@asynccontextmanager
async def client(port: str, *, token: str | None = None, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers) as http:
        transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
        async with Client(transport, mode=mode) as connected:
            yield connected


async def post(url: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, **options)


@pytest.mark.parametrize("mode", MODES)
async def test_loopback_http_serves_both_eras(sandbox, mode):
    with serving(sandbox) as port:
        async with client(port, mode=mode) as c:
            names = {tool.name for tool in (await c.list_tools()).tools}
            calls = data(await c.call_tool("list_calls", {"since": "yesterday", "limit": 3}))
            preview = data(await c.call_tool("create_tag", {"name": "Over HTTP"}))
            done = data(
                await c.call_tool(
                    "create_tag", {"name": "Over HTTP", "confirmation_code": preview["confirmation_code"]}
                )
            )
    assert "summarize_calls" in names
    assert calls["returned"] == 3
    assert preview["outcome"] == "preview" and done["outcome"] == "done"
    assert len(writes(sandbox)) == 1


async def test_a_bearer_token_is_required_once_set(sandbox):
    with serving(sandbox, mcp_auth_token=TOKEN) as port:
        refused = await post(
            f"http://127.0.0.1:{port}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        wrong = await post(
            f"http://127.0.0.1:{port}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": "Bearer nope", "Accept": "application/json, text/event-stream"},
        )
        async with client(port, token=TOKEN) as c:
            tags = data(await c.call_tool("list_tags", {}))
    assert refused.status_code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
    assert wrong.status_code == 401
    assert TOKEN not in refused.text + wrong.text
    assert {tag["name"] for tag in tags["tags"]} >= {"VIP"}


def test_a_non_loopback_bind_without_a_token_is_refused(shared_sandbox):
    settings = settings_for(shared_sandbox)
    with pytest.raises(ConfigError) as failure:
        http_app(settings, host="0.0.0.0", port=8000)
    assert "SIPSIM_MCP_AUTH_TOKEN" in str(failure.value)


def test_team_sign_in_off_loopback_needs_the_public_url_which_names_the_resource(shared_sandbox, tmp_path):
    policy = tmp_path / "policy.toml"
    team = {"mcp_oauth_issuer": "https://login.acme.test/realms/acme", "policy": policy}
    with pytest.raises(ConfigError) as failure:
        http_app(settings_for(shared_sandbox, **team), host="0.0.0.0", port=8000)
    assert "needs SIPSIM_MCP_PUBLIC_URL: the URL clients connect to" in str(failure.value)
    public = settings_for(shared_sandbox, **team, mcp_public_url="https://mcp.acme.test/mcp")
    with pytest.raises(ConfigError, match=r"SIPSIM_POLICY: cannot read the policy file .*policy\.toml"):
        http_app(public, host="0.0.0.0", port=8000)  # a policy that cannot be used stops the start-up
    policy.write_text('[roles.viewer]\ntools = ["list_calls"]\n[[grants]]\nrole = "viewer"\n')
    http_app(public, host="0.0.0.0", port=8000)  # builds: no provider is reached before the first token
    allowed = security(public, "0.0.0.0", 8000).allowed_hosts
    assert allowed is not None and {"mcp.acme.test", "0.0.0.0:8000"} <= set(allowed)


async def test_a_non_loopback_bind_checks_the_token_and_the_host_header(sandbox):
    with serving(
        sandbox, host="0.0.0.0", mcp_auth_token=TOKEN, mcp_allowed_hosts="127.0.0.1:*,sipsim.internal:*"
    ) as port:
        foreign = await post(
            f"http://127.0.0.1:{port}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Host": "evil.example",
                "Accept": "application/json, text/event-stream",
            },
        )
        async with client(port, token=TOKEN) as c:
            account = data(await c.call_tool("get_account", {}))
    assert foreign.status_code in (403, 421)
    assert account["account"]["company_name"] == sandbox.data.account["company_name"]


@pytest.mark.parametrize("mode", MODES)
async def test_stateless_http_for_replicas(sandbox, mode):
    with serving(sandbox, stateless=True) as port:
        async with client(port, mode=mode) as c:
            summary = data(await c.call_tool("summarize_calls", {"since": "last_week"}))
            preview = data(await c.call_tool("delete_tag", {"tag": "Spam"}))
    assert summary["complete"] is True
    # no session, so no live elicitation: the preview flow confirms writes
    assert preview["outcome"] == "preview"
    assert writes(sandbox) == []


# --- limits: one client cannot starve the others -------------------------------------------------------

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "flood", "version": "1"}},
}


async def open_session(http: httpx.AsyncClient, url: str) -> str:
    response = await http.post(url, json=INITIALIZE, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


async def session_answers(http: httpx.AsyncClient, url: str, session: str) -> int:
    headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
    response = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return response.status_code


async def test_a_flood_of_sessions_closes_the_idle_ones_instead_of_locking_clients_out(sandbox):
    with serving(sandbox, mcp_max_sessions=3) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient(timeout=30) as http:
            sessions = [await open_session(http, url) for _ in range(12)]
            statuses = [await session_answers(http, url, session) for session in sessions]
        async with client(port, mode="legacy") as c:  # a real client still gets in after the flood
            tags = data(await c.call_tool("list_tags", {}))
    assert statuses[:9] == [404] * 9  # the oldest idle sessions were closed to admit newer ones
    assert statuses[9:] == [202] * 3
    assert tags["tags"]


async def test_an_idle_session_is_closed_after_the_idle_timeout(sandbox):
    with serving(sandbox, mcp_idle_timeout=0.5) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient(timeout=30) as http:
            session = await open_session(http, url)
            fresh = await session_answers(http, url, session)
            await anyio.sleep(1.5)
            stale = await session_answers(http, url, session)
    assert (fresh, stale) == (202, 404)


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received, time.monotonic() - started


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_slow_client_is_cut_off_after_the_read_timeout(sandbox, part):
    with serving(sandbox, mcp_read_timeout=0.5) as port, socket.create_connection(("127.0.0.1", int(port))) as sock:
        head = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        if part == "headers":
            sock.sendall(head.encode())  # and never the blank line that ends the headers
        else:
            sock.sendall(f'{head}Content-Length: 1000\r\n\r\n{{"jsonrpc":'.encode())
        received, waited = read_until_closed(sock, limit=10)
    assert waited < 5
    if part == "body":
        assert received.startswith(b"HTTP/1.1 408")
