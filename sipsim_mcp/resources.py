"""MCP resources, for clients that attach context instead of calling tools: the account, the lines,
the tags and any call, as JSON."""

from __future__ import annotations

import json

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from . import endpoints as ep
from .errors import SipsimError
from .models import Account, Call
from .tools.base import Runtime
from .tools.lines import line_row

JSON = "application/json"


def register_resources(server: MCPServer, runtime: Runtime) -> list[str]:
    """Add the resources whose scope is configured; return their URIs."""
    scopes = runtime.settings.scopes
    api, directory = runtime.api, runtime.directory
    added = []

    async def guarded(what: str, produce) -> str:
        try:
            return json.dumps(await produce(), ensure_ascii=False)
        except SipsimError as exc:
            raise ResourceError(f"Could not read {what}: {exc}") from exc

    if ep.GET_ACCOUNT.scope_for(scopes):

        @server.resource(
            "sipsim://account",
            name="account",
            title="SIPSIM account",
            mime_type=JSON,
            description="The SIPSIM account: company, email and other account fields.",
        )
        async def account() -> str:
            async def produce():
                found, _ = await api.fetch(ep.GET_ACCOUNT, Account)
                return found.model_dump(mode="json")

            return await guarded("the account", produce)

        added.append("sipsim://account")

    if ep.LIST_PHONES.scope_for(scopes):

        @server.resource(
            "sipsim://lines",
            name="lines",
            title="Phone lines",
            mime_type=JSON,
            description="Every phone line: name, extension, number, status, recording, forwarding.",
        )
        async def lines() -> str:
            async def produce():
                directory.forget_lines()
                return [line_row(phone).model_dump(mode="json") for phone in await directory.lines()]

            return await guarded("the lines", produce)

        added.append("sipsim://lines")

    if ep.LIST_TAGS.scope_for(scopes):

        @server.resource(
            "sipsim://tags",
            name="tags",
            title="Tags",
            mime_type=JSON,
            description="Every tag: id, name, colour, description.",
        )
        async def tags() -> str:
            async def produce():
                directory.forget_tags()
                return [tag.model_dump(mode="json") for tag in await directory.tags()]

            return await guarded("the tags", produce)

        added.append("sipsim://tags")

    if ep.GET_CALL.scope_for(scopes):

        @server.resource(
            "sipsim://calls/{call_id}",
            name="call",
            title="A call",
            mime_type=JSON,
            description="One call with every field SIPSIM returns.",
        )
        async def call(call_id: str) -> str:
            async def produce():
                found, _ = await api.fetch(ep.GET_CALL, Call, path_params={"call_id": call_id})
                return found.model_dump(mode="json")

            return await guarded(f"call {call_id}", produce)

        added.append("sipsim://calls/{call_id}")
    return added
