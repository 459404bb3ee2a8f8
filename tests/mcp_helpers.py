"""Connecting a real MCP client (in memory, either protocol era) to the server built on a simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitRequestParams, ElicitResult

from sipsim_mcp.client import SipsimClient
from sipsim_mcp.sandbox import Sandbox
from sipsim_mcp.server import SipsimServer, build_server

from .conftest import NOW, settings_for

MODES = ["auto", "legacy"]


def answering(action: str, content: dict[str, Any] | None = None, seen: list[str] | None = None):
    """An elicitation callback (passing one declares the capability) that answers `action`."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        if seen is not None:
            seen.append(params.message)
        return ElicitResult(action=action, content=content)

    return callback


@asynccontextmanager
async def connect(
    sandbox: Sandbox, *, mode: str = "auto", elicitation=None, **overrides: Any
) -> AsyncIterator[tuple[Client, SipsimServer]]:
    settings = settings_for(sandbox, **overrides)
    async with SipsimClient(settings) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        async with Client(server, mode=mode, elicitation_callback=elicitation) as client:
            yield client, server


def data(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful result (and check the text says the same)."""
    assert result.is_error is False, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error is True, result.structured_content
    return result.content[0].text


def writes(sandbox: Sandbox, method: str | None = None, path: str = "/api/v2"):
    """API requests that change something (not GET), optionally one method / path prefix."""
    return [
        r
        for r in sandbox.requests
        if r.method != "GET" and r.path.startswith(path) and (method is None or r.method == method)
    ]
