"""MCP resources, for clients that attach context instead of calling tools: the account, the lines,
the tags and any call, as JSON. Each is offered only when its scope is configured."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from ..api import endpoints as ep
from ..api.endpoints import Endpoint
from ..api.errors import SipsimError
from ..api.models import Account, Call
from ..tools.base import Runtime
from ..tools.lines import line_row

JSON = "application/json"


async def _account(runtime: Runtime) -> Any:
    account, _ = await runtime.api.fetch(ep.GET_ACCOUNT, Account)
    return account.model_dump(mode="json")


async def _lines(runtime: Runtime) -> Any:
    return [
        line_row(phone).model_dump(mode="json", exclude_none=True)
        for phone in await runtime.directory.lines(fresh=True)
    ]


async def _tags(runtime: Runtime) -> Any:
    return [tag.model_dump(mode="json") for tag in await runtime.directory.tags(fresh=True)]


@dataclass(frozen=True)
class Listing:
    uri: str
    title: str
    description: str
    endpoint: Endpoint
    read: Callable[[Runtime], Awaitable[Any]]


LISTINGS = (
    Listing(
        "sipsim://account", "SIPSIM account", "The account: company, email and other fields.", ep.GET_ACCOUNT, _account
    ),
    Listing(
        "sipsim://lines",
        "Phone lines",
        "Every line: name, extension, number, status, recording, forwarding.",
        ep.LIST_PHONES,
        _lines,
    ),
    Listing("sipsim://tags", "Tags", "Every tag: id, name, colour, description.", ep.LIST_TAGS, _tags),
)


async def _as_json(what: str, produce: Awaitable[Any]) -> str:
    try:
        return json.dumps(await produce, ensure_ascii=False)
    except SipsimError as exc:
        raise ResourceError(f"Could not read {what}: {exc}") from exc


def _reader(listing: Listing, runtime: Runtime) -> Callable[[], Awaitable[str]]:
    async def read() -> str:
        return await _as_json(listing.uri, listing.read(runtime))

    return read


def register_resources(server: MCPServer, runtime: Runtime) -> None:
    """Add the resources whose scope is configured."""
    scopes = runtime.settings.scopes
    for listing in LISTINGS:
        if listing.endpoint.scope_for(scopes):
            server.resource(
                listing.uri,
                name=listing.uri.removeprefix("sipsim://"),
                title=listing.title,
                description=listing.description,
                mime_type=JSON,
            )(_reader(listing, runtime))

    if ep.GET_CALL.scope_for(scopes):

        @server.resource(
            "sipsim://calls/{call_id}",
            name="call",
            title="A call",
            mime_type=JSON,
            description="One call with every field SIPSIM returns.",
        )
        async def call(call_id: str) -> str:
            async def full() -> Any:
                found, _ = await runtime.api.fetch(ep.GET_CALL, Call, path_params={"call_id": call_id})
                return found.model_dump(mode="json")

            return await _as_json(f"call {call_id}", full())
