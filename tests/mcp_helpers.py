"""Connecting a real MCP client (in memory, either protocol era) to the server built on a simulator."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitRequestParams, ElicitResult

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.api.retry import RetryPolicy
from sipsim_mcp.mcp.server import SipsimServer, build_server
from sipsim_mcp.sandbox import Sandbox

from .conftest import NOW, Waits, settings_for

MODES = ["auto", "legacy"]
#: Settings of a server whose webhook receiver is configured (its events kept in memory): it offers live calls.
RECEIVER = {"webhook_secret": "whsec-tests-" + "r" * 30, "events_url": "memory:"}


def answering(action: str, content: dict[str, Any] | None = None, seen: list[str] | None = None):
    """An elicitation callback (passing one declares the capability) that answers `action`."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        if seen is not None:
            seen.append(params.message)
        return ElicitResult(action=action, content=content)

    return callback


#: Where a server finds a simulator it calls in process (the host is never dialled).
IN_PROCESS = SimpleNamespace(api_url="http://127.0.0.1/api/v2", token_url="http://127.0.0.1/oauth/token")


@asynccontextmanager
async def connect(
    sandbox: Sandbox,
    *,
    mode: str = "auto",
    elicitation=None,
    over_http: bool = False,
    waits: Waits | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[Client, SipsimServer]]:
    """A real MCP client (in memory) on the server built on `sandbox`. The server calls the simulator's app in
    process, or over loopback HTTP with `over_http` (for what only a socket does: timeouts, disconnects).
    Its retries wait for nothing: the waits they asked for go to `waits`."""
    settings = settings_for(sandbox if over_http else IN_PROCESS, **overrides)
    transport = None if over_http else httpx.ASGITransport(app=sandbox.app)
    retry = RetryPolicy(sleep=Waits() if waits is None else waits)
    async with SipsimClient(settings, transport=transport, retry=retry) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        async with Client(server, mode=mode, elicitation_callback=elicitation) as client:
            yield client, server


def data(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful result (and check the text loses none of it)."""
    assert result.is_error is False, result.content[0].text
    assert_text_carries(result.content[0].text, result.structured_content)
    return result.structured_content


INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)")


def assert_text_carries(text: str, structured: dict[str, Any]) -> None:
    """The compact text says everything the structured content does: every scalar, every object field,
    every table row with each of its values in its own column; times at minute precision in the zone the
    text states; a call's empty from/to only where it is the line's number the text gives."""
    lines = text.splitlines()
    zone = _stated_zone(structured, text)

    def forms(value: Any) -> list[str]:
        """How the text may show `value` (a time may leave out the year, or year and month, said once)."""
        text = shown(value)
        return [text, text[5:], text[8:]] if isinstance(value, str) and INSTANT.fullmatch(value) else [text]

    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return json.dumps(value)
        if isinstance(value, str) and INSTANT.fullmatch(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, list):
            return ",".join(shown(item) for item in value)
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return str(value).replace("|", "\\|").replace("\n", " ")

    for key, value in structured.items():
        if key == "window":
            assert f"window: {value['description']}" in lines
        elif isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            _assert_table(lines, key, value, forms)
        elif isinstance(value, dict):
            if value:
                [line] = [line for line in lines if line.startswith(f"{key}: ")]
                for field, item in value.items():
                    assert any(f"{field}={form}" in line for form in forms(item)), (key, field, item, line)
        elif isinstance(value, list):
            [line] = [line for line in lines if line.startswith(f"{key}: ") or f"; {key}: " in line]
            assert all(shown(item) in line for item in value), (key, line)
        else:
            said = forms(value) if not isinstance(value, str) or INSTANT.fullmatch(value) else [value]
            assert any(f"{key}: {form}" in text for form in said), (key, value, text)


def _stated_zone(structured: dict[str, Any], text: str) -> Any:
    window = structured.get("window")
    name = window["timezone"] if isinstance(window, dict) else structured.get("timezone")
    if name:
        return ZoneInfo(name)
    stated = re.search(r"^times: .*?UTC([+-]\d\d):(\d\d)", text, re.M)
    if stated:
        sign = -1 if stated[1].startswith("-") else 1
        return timezone(sign * timedelta(hours=abs(int(stated[1])), minutes=int(stated[2])))
    return timezone.utc


def _assert_table(lines: list[str], key: str, rows: list[dict[str, Any]], forms: Any) -> None:
    start = lines.index(f"{key} ({len(rows)}):") + 1
    own: dict[str, str] = {}
    if lines[start].startswith("line numbers (empty from/to): "):
        for entry in lines[start].split(": ", 1)[1].split("; "):
            line, number = entry.rsplit(" ", 1)
            own[line] = number
        start += 1
    columns = lines[start].split("|")
    assert len(lines) > start + len(rows), f"{key}: rows are missing"
    for offset, row in enumerate(rows):
        said = re.split(r"(?<!\\)\|", lines[start + 1 + offset])
        assert len(said) <= len(columns), (key, offset, said)
        cells = dict(zip(columns, said + [""] * (len(columns) - len(said)), strict=True))
        flat = {**{k: v for k, v in row.items() if not isinstance(v, dict)}}
        for nested in (v for v in row.values() if isinstance(v, dict)):
            flat.update({k: v for k, v in nested.items() if k not in row})
        for field, value in flat.items():
            if field in ("from", "to") and cells[field] == "":
                assert own.get(row.get("line")) == value, (key, offset, field, value)
            else:
                assert cells[field] in forms(value), (key, offset, field, value, cells[field])


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
