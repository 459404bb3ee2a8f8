"""What a signed-in person may read besides tools: a resource, or a completion from the account's names, is
theirs when the read tool that shows the same thing is (`sipsim://lines` as `list_phones`, a call as
`get_call`). Without team sign-in everything is, as for tools. A resource this map does not know is refused
to a signed-in person (a new resource is readable once it names its tool here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CompleteResult, Completion
from pydantic import BaseModel

from ..api import endpoints as ep
from ..api.endpoints import Endpoint
from ..tools.inventory import TOOLS
from ..tools.live import recent_call_events
from .policy import Caller
from .resources import CALL_TEMPLATE, LISTINGS, LIVE


def reader(endpoint: Endpoint) -> str:
    """The read tool of `endpoint`."""
    return next(spec.name for spec in TOOLS if spec.endpoint is endpoint and not spec.write)


#: The tool each resource is read as; a call's URI by its prefix.
RESOURCE_TOOLS = {listing.uri: reader(listing.endpoint) for listing in LISTINGS}
RESOURCE_TOOLS.update((listing.uri, recent_call_events.name) for listing in LIVE)  # the live calls
CALLS = CALL_TEMPLATE.split("{", 1)[0]
CALL_TOOL = reader(ep.GET_CALL)
#: The tool each completed prompt argument reads its names with.
COMPLETION_TOOLS = {"line": reader(ep.LIST_PHONES), "tag": reader(ep.LIST_TAGS)}
#: Views (MCP Apps) are the server's own pages: they show what tools return.
VIEWS = "ui://"


def resource_tool(uri: str) -> str | None:
    """The tool a resource is read as; None for a view, "" for a resource this map does not know."""
    if uri.startswith(VIEWS):
        return None
    if uri in RESOURCE_TOOLS:
        return RESOURCE_TOOLS[uri]
    return CALL_TOOL if uri.startswith(CALLS) else ""


class Permitted:
    """Server middleware: a signed-in person lists and reads only the resources, and gets only the
    completions, that the tools of their roles would show them."""

    def __init__(self, caller: Callable[[], Caller | None]) -> None:
        self.caller = caller

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        who = self.caller() if ctx.method.startswith(("resources/", "completion/")) else None

        if who is None:
            return await call_next(ctx)
        allowed = who.permissions.may_use
        params = ctx.params or {}
        if ctx.method in ("resources/read", "resources/subscribe"):
            uri = str(params.get("uri", ""))
            tool = resource_tool(uri)
            if tool is not None and not allowed(tool):
                raise MCPError(code=INVALID_PARAMS, message=refusal(who, uri, tool), data={"uri": uri})
        result = await call_next(ctx)
        if ctx.method == "completion/complete":
            argument = params.get("argument")
            tool = COMPLETION_TOOLS.get(str(argument.get("name"))) if isinstance(argument, dict) else None
            if tool is not None and not allowed(tool):
                return CompleteResult(completion=Completion(values=[], total=0, has_more=False))
        listed = LISTED.get(ctx.method)
        if listed is not None:
            key, uri = listed
            answer = _as_dict(result)
            answer[key] = [item for item in answer.get(key, []) if _shown(resource_tool(str(item.get(uri))), allowed)]
            return answer
        return result


#: The list answers to filter: the key of their items, and the key of each item's URI.
LISTED = {"resources/list": ("resources", "uri"), "resources/templates/list": ("resourceTemplates", "uriTemplate")}


def _as_dict(result: HandlerResult) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(result or {})


def _shown(tool: str | None, allowed: Callable[[str], bool]) -> bool:
    return tool is None or (bool(tool) and allowed(tool))


def refusal(who: Caller, uri: str, tool: str) -> str:
    if not tool:
        return f"The resource {uri} is not open to signed-in people on this server; use the tools instead."
    return f"The resource {uri} shows what {tool} does, which {who.person.label} may not use (see tools/list)."
