"""MCP Apps views (`io.modelcontextprotocol/ui`): HTML that hosts which render apps show with a tool's result.

The calls dashboard draws summarize_calls and list_calls results. Its source and build live in `ui/` at
the repository root; the built single file ships in this package, so installing needs no Node. Hosts
without the extension ignore the tools' `_meta` and read the same text and structured content as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.resources import files

from mcp.server.apps import Apps

CALLS_DASHBOARD = "ui://sipsim/calls-dashboard"

#: uri -> (file in sipsim_mcp/ui, name, title, description)
VIEWS = {
    CALLS_DASHBOARD: (
        "calls_dashboard.html",
        "calls-dashboard",
        "Calls dashboard",
        "Interactive view of summarize_calls and list_calls results: totals, a chart of the groups, top "
        "callers and the calls behind each bar.",
    ),
}


def tool_meta(uri: str) -> dict[str, object]:
    """A tool's `_meta` naming its view (plus the flat key that hosts from before the stable spec read)."""
    return {"ui": {"resourceUri": uri}, "ui/resourceUri": uri}


@cache
def view_html(uri: str) -> str:
    return (files("sipsim_mcp") / "ui" / VIEWS[uri][0]).read_text(encoding="utf-8")


def apps_extension(uris: Iterable[str]) -> Apps:
    """The MCP Apps extension serving the views `uris` (as `text/html;profile=mcp-app` resources)."""
    apps = Apps()
    for uri in sorted(set(uris)):
        _, name, title, description = VIEWS[uri]
        apps.add_html_resource(
            uri, view_html(uri), name=name, title=title, description=description, prefers_border=False
        )
    return apps
