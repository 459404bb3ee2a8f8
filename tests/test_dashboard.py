"""The calls dashboard (MCP Apps) at the protocol level: which tools name it, the resource a host reads,
that it loads nothing from anywhere, and that clients without the extension see exactly what they saw."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.mcp.server import build_server
from sipsim_mcp.tools.views import CALLS_DASHBOARD

from .conftest import NOW, settings_for
from .mcp_helpers import MODES, connect, data

pytestmark = pytest.mark.anyio

APPS_CLIENT = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
VIEWED = {"summarize_calls", "list_calls"}


class Loads(HTMLParser):
    """Everything in a document that would make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.tags: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value:
                self.loads.append(f"<{tag} {name}={value}>")
        if tag == "link":
            self.loads.append("<link>")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, text: str) -> None:
        if self._in_style:
            self.loads += re.findall(r"@import[^;]*|url\([^)]*\)", text)


@pytest.mark.parametrize("mode", MODES)
async def test_the_call_tools_name_the_dashboard_and_no_other_tool_does(shared_sandbox, mode):
    async with connect(shared_sandbox, mode=mode) as (client, _):
        tools = (await client.list_tools()).tools
    views = {tool.name: (tool.meta or {}).get("ui", {}).get("resourceUri") for tool in tools}
    assert {name for name, uri in views.items() if uri} == VIEWED
    assert {views[name] for name in VIEWED} == {CALLS_DASHBOARD}
    flat = {tool.name for tool in tools if (tool.meta or {}).get("ui/resourceUri") == CALLS_DASHBOARD}
    assert flat == VIEWED  # the key hosts from before the stable spec read


@pytest.mark.parametrize("mode", MODES)
async def test_the_dashboard_is_one_self_contained_html_app_resource(shared_sandbox, mode):
    async with connect(shared_sandbox, mode=mode) as (client, _):
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        [content] = (await client.read_resource(CALLS_DASHBOARD)).contents
    assert listed[CALLS_DASHBOARD].mime_type == APP_MIME_TYPE
    assert content.mime_type == APP_MIME_TYPE
    html = content.text
    assert html.lower().startswith("<!doctype html>")
    parsed = Loads()
    parsed.feed(html)
    assert parsed.loads == [], "the view must load nothing: hosts' default CSP blocks every fetch"
    assert parsed.tags.count("script") == 1 and parsed.tags.count("style") == 1  # the bundle and styles, inline
    assert 'role="status"' in html  # where screen readers hear what changed


async def test_the_server_advertises_the_apps_extension(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        assert EXTENSION_ID in (client.server_capabilities.extensions or {})


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_apps_gets_the_same_answers(shared_sandbox, mode):
    """The view changes nothing for clients that do not render apps: same text, same structured content."""
    settings = settings_for(shared_sandbox)
    calls = [("summarize_calls", {"group_by": ["line"]}), ("list_calls", {"limit": 5})]
    answers = []
    async with SipsimClient(settings) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        for extensions in ([], [APPS_CLIENT]):
            async with Client(server, mode=mode, extensions=extensions) as client:
                answers.append([(await client.call_tool(name, args)) for name, args in calls])
    plain, with_apps = answers
    for before, after in zip(plain, with_apps, strict=True):
        assert data(before) == data(after)
        assert before.content == after.content


async def test_without_the_call_tools_there_is_no_dashboard(shared_sandbox):
    async with connect(shared_sandbox, tools="get_account,list_tags") as (client, _):
        uris = {r.uri for r in (await client.list_resources()).resources}
        capabilities = client.server_capabilities.extensions or {}
    assert CALLS_DASHBOARD not in uris
    assert EXTENSION_ID not in capabilities


async def test_the_structured_content_holds_what_the_dashboard_draws(shared_sandbox):
    """The fields the view reads: window, group_by, totals, groups with outcome counts, top callers, rows."""
    async with connect(shared_sandbox) as (client, _):
        summary = data(await client.call_tool("summarize_calls", {"group_by": ["day"]}))
        page = data(await client.call_tool("list_calls", {"limit": 3}))
    assert {"since_local", "until_local", "timezone"} <= set(summary["window"])
    assert summary["group_by"] == ["day"]
    for row in [summary["totals"], *summary["groups"]]:
        assert {"calls", "answered", "missed", "voicemail"} <= set(row)
        assert row["answered"] + row["missed"] <= row["calls"]  # the stacked segments fit in the bar
    assert sum(g["calls"] for g in summary["groups"]) == summary["totals"]["calls"]
    assert summary["top_callers"] and {"number", "calls"} <= set(summary["top_callers"][0])
    assert page["calls"] and page["has_more"] and page["page"]
    assert json.dumps(page).count('"time"') == 3
