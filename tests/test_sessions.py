"""Fair HTTP sessions, with a real server process: an open stream does not make a session unevictable, and
one client (a bearer token and a remote address) holding every session, idle, streaming or busy, never
keeps another client out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .mcp_helpers import data, writes
from .replicas import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.clock]

VERSION = "2025-06-18"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def initialize(capabilities: dict) -> dict:
    params = {"protocolVersion": VERSION, "capabilities": capabilities, "clientInfo": {"name": "hog", "version": "1"}}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


async def open_session(http: httpx.AsyncClient, url: str, capabilities: dict | None = None) -> str:
    response = await http.post(url, json=initialize(capabilities or {}), headers=HEADERS)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post(url, json=initialized, headers=in_session(session))).status_code == 202
    return session


def in_session(session: str) -> dict[str, str]:
    return {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": VERSION}


async def answers(http: httpx.AsyncClient, url: str, session: str) -> int:
    """The status a session's next request gets (404 once it was closed)."""
    ping = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    return (await http.post(url, json=ping, headers=in_session(session))).status_code


@asynccontextmanager
async def other_client(url: str) -> AsyncIterator[Client]:
    """A real MCP client (handshake era, so it holds a session) from another remote address, 127.0.0.2."""
    transport = httpx2.AsyncHTTPTransport(local_address="127.0.0.2")
    async with (
        httpx2.AsyncClient(transport=transport, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def test_a_client_holding_every_session_with_open_streams_does_not_lock_others_out(sandbox, tmp_path):
    with ServerProcess(sandbox, tmp_path / "server.log", SIPSIM_MCP_MAX_SESSIONS="5") as server:
        async with AsyncExitStack() as stack:
            hog = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            sessions = [await open_session(hog, server.url) for _ in range(5)]
            for session in sessions:  # each with its GET stream open, as a client listening for notifications
                stream = hog.stream("GET", server.url, headers={**in_session(session), "Accept": "text/event-stream"})
                assert (await stack.enter_async_context(stream)).status_code == 200
            async with other_client(server.url) as newcomer:
                tags = data(await newcomer.call_tool("list_tags", {}))
            statuses = [await answers(hog, server.url, session) for session in sessions]
    assert tags["tags"]
    assert statuses == [404, 202, 202, 202, 202]  # the hog's oldest session made room; the others live on


async def test_a_flood_of_busy_sessions_from_one_address_leaves_room_for_another(sandbox, tmp_path):
    """Each of the flood's sessions waits on a confirmation form it never answers (a request in flight)."""
    with ServerProcess(sandbox, tmp_path / "server.log", SIPSIM_MCP_MAX_SESSIONS="5") as server:
        async with AsyncExitStack() as stack:
            hog = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            sessions = []
            for i in range(8):
                session = await open_session(hog, server.url, {"elicitation": {}})
                call = {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "create_tag", "arguments": {"name": f"Flood {i}"}},
                }
                response = await stack.enter_async_context(
                    hog.stream("POST", server.url, json=call, headers=in_session(session))
                )
                lines = response.aiter_lines()
                async for line in lines:  # the form is asked: the call waits for its answer
                    if "elicitation/create" in line:
                        break
                sessions.append(session)
            async with other_client(server.url) as newcomer:
                tags = data(await newcomer.call_tool("list_tags", {}))
            statuses = [await answers(hog, server.url, session) for session in sessions]
    assert tags["tags"]
    assert statuses.count(202) == 4 and statuses[-4:] == [202] * 4  # the flood kept the newest of its sessions
    assert writes(sandbox) == []  # a closed session's unanswered confirmation sent nothing
