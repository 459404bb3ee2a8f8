"""Every read tool and summarize_calls give the same answer against every shape variant of the simulator
(the same data, shaped as the real API plausibly differs from the docs), or say which field they could not
read. The simulator is called in process: these tests are about reading answers, not about HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.mcp.server import build_server
from sipsim_mcp.sandbox import VARIANTS, Sandbox, SandboxConfig
from sipsim_mcp.tools.calls import ALL_FIELDS as CALL_FIELDS

from .conftest import NOW, settings_for
from .mcp_helpers import connect, data, error_text

CALLS = 2000
WINDOW = "last_30_days"
ALL_FIELDS = list(CALL_FIELDS)
#: Variants whose answers must equal the standard one (the others cannot: they have their own tests).
SAME_ANSWER = [name for name in VARIANTS if name not in ("standard", "minimal_call", "never_paginated")]
_PREFIXED = re.compile(r"\b(?:call|ph|tag|acc|emp|grp|sum)_(\d+)\b")


def simulator(variant: str) -> Sandbox:
    return Sandbox(SandboxConfig(anchor=NOW, calls=CALLS, variant=variant))


def known_ids(sandbox: Sandbox) -> dict[str, Any]:
    calls = sandbox.data.calls
    caller = next(c["caller_number"] for c in reversed(calls) if c["direction"] == "inbound")
    return {
        "transcribed": max(sandbox.data.transcriptions),
        "summarized": max(sandbox.data.summaries),
        "caller": caller,
    }


def scenarios(ids: dict[str, Any], id_of: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    window: dict[str, Any] = {"since": WINDOW}
    return {
        "account": ("get_account", {}),
        "calls": ("list_calls", {}),
        "calls_all_fields": ("list_calls", {**window, "fields": ALL_FIELDS, "limit": 50}),
        "calls_line": ("list_calls", {**window, "line": "Sales", "limit": 50}),
        "calls_tag": ("list_calls", {**window, "tags": ["VIP"], "fields": ["time", "tags"], "limit": 50}),
        "calls_missed": ("list_calls", {**window, "call_types": ["missed"], "limit": 50}),
        "calls_number": ("list_calls", {**window, "number": ids["caller"], "limit": 50}),
        "summary": ("summarize_calls", {**window}),
        "summary_type_status": ("summarize_calls", {**window, "group_by": ["call_type", "status"]}),
        "summary_line": ("summarize_calls", {**window, "group_by": ["line"]}),
        "summary_tag": ("summarize_calls", {**window, "group_by": ["tag"]}),
        "summary_employee": ("summarize_calls", {**window, "group_by": ["employee"]}),
        "summary_time": ("summarize_calls", {**window, "group_by": ["weekday", "hour"], "metrics": ["calls"]}),
        "summary_one_line": ("summarize_calls", {**window, "line": "Sales", "group_by": ["day"]}),
        "phones": ("list_phones", {}),
        "phone": ("get_phone", {"line": "Sales"}),
        "tags": ("list_tags", {}),
        "webhook_events": ("list_webhook_events", {}),
        "transcription": ("get_transcription", {"call_id": id_of("call", ids["transcribed"])}),
        "call_summary": ("get_summary", {"call_id": id_of("call", ids["summarized"])}),
    }


async def collect(sandbox: Sandbox) -> dict[str, Any]:
    """Each scenario's structured answer, plus get_call and the second page of list_calls."""
    string_ids = "string_ids" in sandbox.config.variant

    def id_of(prefix: str, value: int) -> Any:
        return f"{prefix}_{value}" if string_ids else value

    out: dict[str, Any] = {}
    async with connect(sandbox) as (client, _):
        for name, (tool, args) in scenarios(known_ids(sandbox), id_of).items():
            out[name] = data(await client.call_tool(tool, args))
        first = out["calls"]["calls"][0]["id"]
        out["call"] = data(await client.call_tool("get_call", {"call_id": str(first)}))
        token = out["calls_all_fields"]["page"]
        out["calls_page_2"] = data(
            await client.call_tool("list_calls", {"since": WINDOW, "fields": ALL_FIELDS, "limit": 50, "page": token})
        )
    return out


def comparable(value: Any) -> Any:
    """An answer with variant-specific spellings made equal: prefixed ids as numbers, page tokens dropped."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items() if key != "page"}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, str):
        if m := _PREFIXED.fullmatch(value):
            return int(m.group(1))
        if value.isdigit():  # an id the tool echoes as given
            return int(value)
        return _PREFIXED.sub(r"\1", value)
    return value


@cache
def answers(variant: str) -> dict[str, Any]:
    return anyio.run(collect, simulator(variant))


def test_the_standard_answers_are_substantial():
    """The scenarios exercise real data: non-empty pages, tags, filters, transcripts (so equality means something)."""
    standard = answers("standard")
    assert len(standard["calls_all_fields"]["calls"]) > 20 and standard["calls_all_fields"]["has_more"]
    assert standard["calls_page_2"]["calls"]
    assert standard["calls_tag"]["calls"] and standard["calls_line"]["calls"] and standard["calls_number"]["calls"]
    assert standard["calls_missed"]["calls"] and standard["summary"]["totals"]["missed"] > 0
    assert standard["summary"]["complete"] is True and "note" not in standard["summary"]
    assert any(group["group"]["tag"] != "(none)" for group in standard["summary_tag"]["groups"])
    assert standard["transcription"] and standard["call_summary"]


@pytest.mark.parametrize("variant", SAME_ANSWER)
def test_every_read_tool_answers_the_same_against(variant):
    standard, got = answers("standard"), answers(variant)
    for name in standard:
        assert comparable(got[name]) == comparable(standard[name]), f"{name} differs under {variant}"


def test_a_minimal_call_says_which_fields_were_missing():
    standard, got = answers("standard"), answers("minimal_call")
    totals, expected = got["summary"]["totals"], standard["summary"]["totals"]
    n = expected["calls"]
    assert (totals["calls"], totals["inbound"], totals["outgoing"]) == (n, expected["inbound"], expected["outgoing"])
    for unknown in ("answered", "missed", "voicemail", "answer_rate", "missed_rate", "avg_duration_s"):
        assert unknown not in totals  # not counted as 0
    note = got["summary"]["note"]
    incoming = expected["inbound"]
    assert f"status missing on {n} of {n} calls" in note
    assert f"call_type missing on {incoming} of {incoming} calls (affects missed, missed_rate, voicemail)" in note
    rows = got["calls_all_fields"]["calls"]
    assert rows == [
        {key: row[key] for key in ("id", "direction", "from", "to") if key in row}
        for row in standard["calls_all_fields"]["calls"]
    ]
    assert got["calls_line"]["calls"] == [] and "phone_id missing on" in got["calls_line"]["note"]
    assert (
        f"start_time missing on {n} of {n} calls: they are in the (none) weekday group" in got["summary_time"]["note"]
    )
    assert [group["group"] for group in got["summary_line"]["groups"]] == [{"line": "(none)"}]
    assert got["summary_one_line"]["complete"] is False
    assert comparable(got["calls_number"]["calls"]) == comparable(
        [{"id": row["id"], "from": row["from"], "to": row["to"]} for row in standard["calls_number"]["calls"]]
    )


@pytest.mark.anyio
async def test_an_unreadable_answer_is_reported_as_sipsim_s_never_as_invalid_arguments():
    sandbox = Sandbox(SandboxConfig(anchor=NOW, calls=300))
    sandbox.data.account["id"] = {"unexpected": "object"}
    newest = sandbox.data.calls[-1]
    newest["id"] = None  # a call without an id: left out and counted, the rest still listed
    async with connect(sandbox) as (client, _):
        text = error_text(await client.call_tool("get_account", {}))
        page = data(await client.call_tool("list_calls", {"limit": 5}))
        summary = data(await client.call_tool("summarize_calls", {}))
    assert "Invalid arguments" not in text and "unexpected" not in text
    assert "SIPSIM's answer to GET /account could not be read (data.id: int_type or string_type)" in text
    assert "doctor --probe" in text and "request_id" in text
    assert len(page["calls"]) == 5 and "1 of " in page["note"] and "could not be read" in page["note"]
    assert summary["complete"] is False and "could not be read" in summary["note"]


def test_a_full_page_without_pagination_is_never_called_complete():
    """SIPSIM without any pagination block: only the first page can be read, and every answer says so."""
    standard, got = answers("standard"), answers("never_paginated")
    for name in ("calls_all_fields", "calls_page_2", "summary", "summary_line"):  # within one page: the same
        assert comparable(got[name]) == comparable(standard[name]), name

    async def whole_history() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(simulator("never_paginated")) as (client, _):
            summary = data(await client.call_tool("summarize_calls", {"since": "last_180_days"}))
            quiet_line = {"since": "last_180_days", "line": "Night Line", "limit": 50}
            calls = data(await client.call_tool("list_calls", quiet_line))
            return summary, calls

    summary, calls = anyio.run(whole_history)
    assert summary["scanned"] == 1000 and summary["complete"] is False
    assert "full page of 1000 calls without a next-page token" in summary["note"]
    assert "there may be more calls than were read" in calls["note"]


READ_SHAPES = [name for name in VARIANTS if not name.startswith("write_")]


@pytest.mark.anyio
@pytest.mark.parametrize("variant", READ_SHAPES)
async def test_every_write_tool_works_against(variant):
    """Writes resolve names and send ids whatever shape the reads had, and read back what SIPSIM answered."""
    from .test_writes import WRITE_CALLS

    sandbox = simulator(variant)
    async with connect(sandbox, confirm_writes="host") as (client, _):
        for tool, arguments in WRITE_CALLS:
            answer = data(await client.call_tool(tool, arguments(sandbox)))
            assert answer["outcome"] == "done" and "result" in answer, (tool, answer)
            if tool == "tag_call" and variant != "minimal_call":
                assert "Lead" in answer["result"]["call"]["tags"]
    assert len(sandbox.data.initiated_calls) == 1 and "Brand new" in [t["name"] for t in sandbox.data.tags]


@pytest.mark.anyio
async def test_tags_given_as_string_ids_are_shown_by_name():
    """`string_ids` with `tags_as_ids`: a call's tags are bare strings like tag_5, which are ids, not names."""
    sandbox = simulator("string_ids,tags_as_ids")
    async with connect(sandbox) as (client, _):
        rows = data(await client.call_tool("list_calls", {"since": WINDOW, "tags": ["VIP"], "fields": ["tags"]}))
    assert rows["calls"] and all("VIP" in row["tags"] for row in rows["calls"])


@asynccontextmanager
async def in_memory_server(transport: httpx.MockTransport) -> AsyncIterator[Client]:
    where = SimpleNamespace(api_url="https://sipsim.test/api/v2", token_url="https://sipsim.test/oauth/token")
    settings = settings_for(where)
    async with SipsimClient(settings, transport=transport) as api, Client(build_server(settings, api=api)) as client:
        yield client


def fake_sipsim(answers: dict[str, Any]) -> httpx.MockTransport:
    """A SIPSIM stand-in answering each API path with a fixed body (and any token request with a token)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})
        return httpx.Response(200, json=answers[request.url.path.removeprefix("/api/v2")])

    return httpx.MockTransport(answer)


@pytest.mark.anyio
async def test_webhook_lists_of_bare_names_or_odd_items_are_read():
    transport = fake_sipsim(
        {
            "/webhooks/available": {"status": 200, "data": ["incoming_call_end", {"event": "sms"}, {"name": 1}]},
            "/webhooks": {"status": 200, "data": ["sms"]},
        }
    )
    async with in_memory_server(transport) as client:
        answer = data(await client.call_tool("list_webhook_events", {}))
    assert [(row["event"], row["enabled"]) for row in answer["events"]] == [("incoming_call_end", False), ("sms", True)]
    assert answer["note"] == "1 webhook list item(s) had no readable event name and are left out."


@pytest.mark.anyio
async def test_a_model_that_fails_inside_a_tool_is_never_called_invalid_arguments(monkeypatch):
    """The last safety net: whatever fails to validate after the arguments were checked is SIPSIM's answer."""
    from sipsim_mcp.tools import calls

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        return calls.CallRow.model_validate({"id": ["not", "an", "id"]})

    monkeypatch.setattr(calls, "call_row", unreadable)
    sandbox = simulator("standard")
    async with connect(sandbox) as (client, _):
        text = error_text(await client.call_tool("list_calls", {"limit": 3}))
    assert "Invalid arguments" not in text and "fix the arguments" not in text
    assert (
        "SIPSIM's answer to GET /calls could not be read (data.id: " in text
        and "not a problem with the arguments" in text
    )
