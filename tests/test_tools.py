"""Every tool through a real MCP client (both protocol eras) against the simulator: the surface,
listing by scope, read-only and SIPSIM_TOOLS, inputs refused before any API call, API errors mapped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sipsim_mcp.api.config import DEFAULT_SCOPES
from sipsim_mcp.app.catalog import COMMAND
from sipsim_mcp.sandbox import ClientSpec, Fault, Sandbox, SandboxConfig
from sipsim_mcp.tools.inventory import TOOLS, TOOLS_BY_NAME

from .conftest import NOW, Waits
from .mcp_helpers import MODES, RECEIVER, connect, data, error_text, writes

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
WRITE_TOOLS = {spec.name for spec in TOOLS if spec.write}
READ_TOOLS = {spec.name for spec in TOOLS if not spec.write}


def sample_arguments(tool: str, samples: dict[str, object]) -> dict[str, object]:
    """The tool's required arguments, each from `samples`."""
    required = [name for name, field in TOOLS_BY_NAME[tool].input.model_fields.items() if field.is_required()]
    missing = [name for name in required if name not in samples]
    assert not missing, f"{tool} requires {missing}: add a sample (or a chosen case) in test_every_read_tool_answers"
    return {name: samples[name] for name in required}


async def list_names(sandbox, **overrides) -> set[str]:
    async with connect(sandbox, **overrides) as (client, _):
        return {tool.name for tool in (await client.list_tools()).tools}


# --- the surface -----------------------------------------------------------------------------------


async def test_tools_list_matches_the_reviewed_snapshot(shared_sandbox):
    """Any change to names, descriptions, schemas or annotations shows up as a diff of tests/snapshots."""
    async with connect(shared_sandbox, **RECEIVER) as (client, _):
        tools = [
            tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in (await client.list_tools()).tools
        ]
    text = json.dumps(tools, indent=2, sort_keys=True) + "\n"
    assert SNAPSHOT.exists(), f"no snapshot yet: run `{COMMAND}` and review it"
    assert text == SNAPSHOT.read_text(), f"tools/list changed: run `{COMMAND}`, then review the diff"


async def test_every_tool_is_named_titled_annotated_and_typed(shared_sandbox):
    async with connect(shared_sandbox, **RECEIVER) as (client, _):
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == READ_TOOLS | WRITE_TOOLS
    for tool in tools:
        assert re.fullmatch(r"[a-z0-9_]{1,64}", tool.name)
        assert tool.title and tool.description
        assert tool.annotations is not None and tool.annotations.title is None  # said once, as the title
        assert tool.annotations.read_only_hint is not None, f"{tool.name} leaves readOnlyHint unset"
        assert tool.annotations.open_world_hint is not None
        assert tool.output_schema and tool.output_schema["type"] == "object"
        for name in tool.input_schema.get("properties", {}):
            assert re.fullmatch(r"[a-zA-Z0-9_.-]{1,64}", name)
        if tool.name in WRITE_TOOLS:
            assert tool.annotations.read_only_hint is False
            assert tool.annotations.destructive_hint is not None and tool.annotations.idempotent_hint is not None
            assert "confirmation_code" in tool.input_schema["properties"]
        else:
            assert tool.annotations.read_only_hint is True
    hints = {tool.name: tool.annotations for tool in tools}
    assert {name for name, a in hints.items() if a.destructive_hint} == {
        "delete_tag",
        "disable_webhook",
        "untag_call",
        "update_phone",
    }
    assert {name for name, a in hints.items() if a.open_world_hint} == {"start_call"}
    assert hints["start_call"].idempotent_hint is False


@pytest.mark.parametrize("mode", MODES)
async def test_every_read_tool_answers(shared_sandbox, mode):
    call_id = shared_sandbox.data.calls[-1]["id"]
    transcribed = next(iter(shared_sandbox.data.transcriptions))
    summarized = next(iter(shared_sandbox.data.summaries))
    # A read tool is called with a sample for each argument it requires (by name); these tools get arguments
    # that find something to show. A new read tool whose required arguments have samples needs no case here.
    samples = {"call_id": call_id, "line": "Sales", "tag": "VIP"}
    chosen = {
        "list_calls": {"since": "last_week"},
        "summarize_calls": {"since": "this_month", "group_by": ["line"]},
        "get_transcription": {"call_id": transcribed},
        "get_summary": {"call_id": summarized},
    }
    arguments = {name: chosen.get(name) or sample_arguments(name, samples) for name in sorted(READ_TOOLS)}
    async with connect(shared_sandbox, mode=mode, **RECEIVER) as (client, _):
        results = {name: data(await client.call_tool(name, args)) for name, args in arguments.items()}
    assert results["get_account"]["account"]["company_name"] == shared_sandbox.data.account["company_name"]
    assert results["list_calls"]["returned"] == 20 and results["list_calls"]["has_more"] is True
    assert results["get_call"]["call"]["id"] == call_id
    assert {line["name"] for line in results["list_phones"]["lines"]} == {p["name"] for p in shared_sandbox.data.phones}
    assert results["get_phone"]["name"] == "Sales"
    assert {tag["name"] for tag in results["list_tags"]["tags"]} == {t["name"] for t in shared_sandbox.data.tags}
    assert results["get_transcription"]["ready"] is True and results["get_transcription"]["lines"]
    assert results["get_summary"]["summary"]
    assert len(results["list_webhook_events"]["events"]) == 14


@pytest.mark.parametrize("mode", MODES)
async def test_every_write_tool_acts_once_confirmed(sandbox, mode):
    call = next(
        c for c in reversed(sandbox.data.calls) if c["recording_url"] and c["id"] not in sandbox.data.transcriptions
    )
    steps = [
        ("create_tag", {"name": "Escalated", "color": "#112233"}),
        ("update_tag", {"tag": "Escalated", "color": "#445566", "description": "Needs a manager"}),
        ("tag_call", {"call_id": call["id"], "tag": "Escalated"}),
        ("untag_call", {"call_id": call["id"], "tag": "Escalated"}),
        ("delete_tag", {"tag": "Escalated"}),
        ("start_call", {"line": "Sales", "number": "+33 6 12 34 56 78"}),
        ("update_phone", {"line": "Support", "record_inbound": False, "forward_unanswered_to": "06 98 76 54 32"}),
        ("request_transcription", {"call_id": call["id"]}),
        ("enable_webhook", {"event": "outgoing_call_end"}),
        ("disable_webhook", {"event": "incoming_call_start"}),
    ]
    async with connect(sandbox, mode=mode, confirm_writes="host") as (client, _):
        done = {name: data(await client.call_tool(name, args)) for name, args in steps}
        transcription = data(await client.call_tool("get_transcription", {"call_id": call["id"]}))
        summary = data(await client.call_tool("request_summary", {"call_id": call["id"]}))
    assert {name for name, _ in steps} | {"request_summary"} == WRITE_TOOLS
    assert all(result["outcome"] == "done" and result["request_id"] for result in done.values())
    assert transcription["ready"] is True
    assert summary["outcome"] == "done"
    assert "Escalated" not in {t["name"] for t in sandbox.data.tags}
    assert sandbox.data.initiated_calls[-1]["number"] == "+33612345678"
    support = next(p for p in sandbox.data.phones if p["name"] == "Support")
    assert support["record_setting"]["record_inbound_call"] is False
    assert support["forwarding_setting"]["conditional"] == {
        **support["forwarding_setting"]["conditional"],
        "enabled": True,
        "forward_number": "+33698765432",
    }
    assert {"event": "outgoing_call_end"} in sandbox.data.webhooks_enabled_events()
    assert len(writes(sandbox)) == len(steps) + 1


# --- listing by scope, read-only, SIPSIM_TOOLS ---------------------------------------------------------


async def test_tools_are_listed_by_configured_scope(shared_sandbox):
    default = await list_names(shared_sandbox, scopes=" ".join(sorted(DEFAULT_SCOPES)))
    assert default >= {
        "get_account",
        "list_calls",
        "summarize_calls",
        "get_call",
        "start_call",
        "tag_call",
        "untag_call",
        "list_phones",
        "get_phone",
        "update_phone",
        "list_tags",
        "create_tag",
        "update_tag",
        "delete_tag",
    }
    assert await list_names(shared_sandbox, scopes="calls.read") >= {"list_calls", "summarize_calls", "get_call"}
    assert await list_names(shared_sandbox, scopes="calls.read phones.read calls.create") >= {
        "list_calls",
        "summarize_calls",
        "get_call",
        "list_phones",
        "get_phone",
        "start_call",
    }
    assert "tag_call" in await list_names(shared_sandbox, scopes="calls.read calls.tags.write tags.read")
    assert "list_webhook_events" in await list_names(shared_sandbox, scopes="webhooks.read")


@pytest.mark.parametrize(
    "scopes",
    [
        " ".join(sorted(DEFAULT_SCOPES)),
        "calls.read",
        "calls.read phones.read calls.create",
        "calls.read calls.tags.write",
        "calls.read calls.tags.write tags.read",
        "calls.write phones.read",
        "webhooks.read webhooks.write",
        "tags.read tags.write",
    ],
)
async def test_exactly_the_tools_whose_declared_scopes_are_configured_are_listed(shared_sandbox, scopes):
    """Any declared tool, new ones included: listed when one of its endpoint's scopes and all the scopes its
    lookups need are configured, and only then."""
    configured = set(scopes.split())
    expected = {
        spec.name for spec in TOOLS if configured & set(spec.endpoint.scopes) and configured >= set(spec.also_needs)
    }
    assert await list_names(shared_sandbox, scopes=scopes) == expected


async def test_read_only_hides_every_write_tool(shared_sandbox):
    assert await list_names(shared_sandbox, read_only="true", **RECEIVER) == READ_TOOLS


async def test_sipsim_tools_narrows_the_list(shared_sandbox):
    assert await list_names(shared_sandbox, tools="list_calls,get_call,create_tag") == {
        "list_calls",
        "get_call",
        "create_tag",
    }
    assert await list_names(shared_sandbox, tools="list_calls,create_tag", read_only="true") == {"list_calls"}


async def test_call_time_enforces_the_same_rules(sandbox):
    async with connect(sandbox, scopes="calls.read tags.read", tools="list_calls,create_tag,list_tags") as (client, _):
        hidden_by_scope = error_text(await client.call_tool("create_tag", {"name": "Sneaky"}))
        hidden_by_list = error_text(await client.call_tool("get_call", {"call_id": 1}))
    assert "tags.write" in hidden_by_scope and "SIPSIM_SCOPES" in hidden_by_scope
    assert "SIPSIM_TOOLS" in hidden_by_list
    assert writes(sandbox) == []
    async with connect(sandbox, read_only="true") as (client, _):
        assert "SIPSIM_READ_ONLY" in error_text(await client.call_tool("delete_tag", {"tag": "VIP"}))
    assert writes(sandbox) == []


# --- bad input: refused before any API call ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("start_call", {"line": "Sales", "number": "call me maybe"}, "E.164"),
        ("start_call", {"line": "Sales", "number": "0612"}, "number"),
        ("start_call", {"line": "Nowhere", "number": "+33612345678"}, "No line matches 'Nowhere'"),
        ("start_call", {"line": "Sal", "number": "+33612345678"}, "ambiguous"),
        ("start_call", {"line": "Night Line", "number": "+33612345678"}, "inactive"),
        ("create_tag", {"name": "Red", "color": "red"}, "#RRGGBB"),
        ("create_tag", {"name": ""}, "name"),
        ("update_tag", {"tag": "VIP"}, "Nothing to change"),
        ("tag_call", {"call_id": "100001", "tag": "Platinum"}, "No tag matches 'Platinum'"),
        ("update_phone", {"line": "Sales"}, "Nothing to change"),
        ("update_phone", {"line": "Sales", "forward_all_to": "nope"}, "E.164"),
        ("update_phone", {"line": "Sales", "forward_unanswered_after_s": 3}, "greater than or equal to 5"),
        ("enable_webhook", {"event": "Call Ended!"}, "event"),
        ("create_tag", {"name": "X", "colour": "#FFFFFF"}, "Unknown argument(s) for create_tag: colour"),
    ],
)
async def test_bad_write_input_is_refused_before_any_write(sandbox, tool, arguments, expected):
    async with connect(sandbox, confirm_writes="host") as (client, _):
        text = error_text(await client.call_tool(tool, arguments))
    assert expected in text
    assert "Traceback" not in text
    assert writes(sandbox) == []


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("list_calls", {"limit": 500}, "less than or equal to 200"),
        ("list_calls", {"limit": 0}, "greater than or equal to 1"),
        ("list_calls", {"since": "the other day"}, "last_week"),
        ("list_calls", {"call_types": ["dropped"]}, "inbound"),
        ("list_calls", {"timezone": "Mars/Olympus"}, "Europe/Paris"),
        ("list_calls", {"page": "not-a-token"}, "page token"),
        ("list_calls", {"tag_ids": [1]}, "Unknown argument(s) for list_calls: tag_ids"),
        ("get_call", {"call_id": "12; DROP"}, "call_id"),
        ("summarize_calls", {"group_by": ["line", "tag", "day"]}, "at most 2"),
        ("summarize_calls", {"group_by": ["colour"]}, "call_type"),
    ],
)
async def test_bad_read_input_is_a_clear_error_before_any_call_search(sandbox, tool, arguments, expected):
    async with connect(sandbox) as (client, _):
        text = error_text(await client.call_tool(tool, arguments))
    assert expected in text
    assert not [r for r in sandbox.requests if r.path.startswith("/api/v2/calls")]


# --- API errors become ToolError text a model can act on ----------------------------------------


async def test_a_duplicate_tag_says_it_exists_and_to_use_it(sandbox):
    async with connect(sandbox, confirm_writes="host") as (client, _):
        text = error_text(await client.call_tool("create_tag", {"name": "vip"}))
    assert "409" in text and "Tag with this name already exists" in text
    assert "use it" in text and "list_tags" in text
    assert re.search(r"request_id [0-9a-f-]{36}", text)


async def test_an_unknown_call_is_a_404_with_the_next_step(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        text = error_text(await client.call_tool("get_call", {"call_id": "1"}))
    assert "404" in text and "Call not found" in text and "list_calls" in text


async def test_a_403_names_the_missing_scope(sandbox):
    sandbox.add_fault(Fault(path="/api/v2/account", status=403, errors=["Insufficient scope: account.read required"]))
    async with connect(sandbox) as (client, _):
        text = error_text(await client.call_tool("get_account", {}))
    assert "403" in text and "account.read" in text and "dashboard" in text


async def test_a_scope_sipsim_did_not_grant_is_explained_without_an_api_request():
    narrow = ClientSpec("demo", "demo-secret", scopes=frozenset({"calls.read", "phones.read"}), narrow_scopes=True)
    with Sandbox(SandboxConfig(anchor=NOW, clients=[narrow], calls=300)) as sandbox:
        async with connect(sandbox) as (client, _):
            text = error_text(await client.call_tool("list_tags", {}))
        assert not [r for r in sandbox.requests if r.path.startswith("/api/v2")]
    assert "tags.read" in text and "SIPSIM_SCOPES" in text


async def test_sipsim_down_is_an_error_result_not_a_protocol_error(sandbox):
    sandbox.add_fault(Fault(path="/api/v2/tags", status=503, times=100))
    waits = Waits()
    async with connect(sandbox, waits=waits) as (client, _):
        text = error_text(await client.call_tool("list_tags", {}))
    assert "503" in text and "try again" in text
    assert [r.status for r in sandbox.requests if r.path == "/api/v2/tags"] == [503] * 4
    # four tries over about three seconds: waits of half to all of 0.5 s, 1 s and 2 s in between
    assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, [0.5, 1, 2], strict=True))


async def test_a_failed_write_says_the_outcome_is_unknown(sandbox):
    sandbox.add_fault(Fault(method="POST", path="/api/v2/tags", status=502))
    async with connect(sandbox, confirm_writes="host") as (client, _):
        text = error_text(await client.call_tool("create_tag", {"name": "Flaky"}))
    assert "502" in text and "not known whether the change was made" in text and "before trying again" in text
    assert len(writes(sandbox, "POST", "/api/v2/tags")) == 1


# --- answers sized and shaped for a model --------------------------------------------------------------


async def test_list_calls_defaults_to_20_compact_rows_and_pages(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        first = data(await client.call_tool("list_calls", {"since": "this_month"}))
        second = data(await client.call_tool("list_calls", {"since": "this_month", "page": first["page"]}))
        raw = await client.call_tool("list_calls", {"since": "this_month", "limit": 200})
        most = data(raw)
        rest = data(await client.call_tool("list_calls", {"since": "this_month", "limit": 200, "page": most["page"]}))
    assert first["returned"] == len(first["calls"]) == 20
    assert all(None not in row.values() for row in first["calls"])
    ids = [row["id"] for row in first["calls"] + second["calls"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 40
    assert ids == [row["id"] for row in most["calls"][:40]]
    # 200 rows do not fit in the 20 KB cap: the answer says how many were left out and how to get them
    assert len(raw.content[0].text) <= 20_000
    assert most["omitted"] == 200 - most["returned"] and most["has_more"] is True
    assert rest["calls"][0]["id"] < most["calls"][-1]["id"]
    shown = min(most["omitted"], len(rest["calls"]))  # the next page is capped too
    assert [r["id"] for r in rest["calls"]][:shown] == sorted(
        (c["id"] for c in shared_sandbox.data.calls if c["id"] < most["calls"][-1]["id"]), reverse=True
    )[:shown]


async def test_a_missing_transcription_points_to_request_transcription(shared_sandbox):
    untranscribed = next(
        c for c in reversed(shared_sandbox.data.calls) if c["id"] not in shared_sandbox.data.transcriptions
    )
    async with connect(shared_sandbox) as (client, _):
        text = error_text(await client.call_tool("get_transcription", {"call_id": untranscribed["id"]}))
    assert "404" in text and "request_transcription" in text


async def test_list_tags_shows_a_tag_made_elsewhere_at_once(sandbox):
    async with connect(sandbox) as (client, _):
        before = data(await client.call_tool("list_tags", {}))
        sandbox.data.tags.append({"id": 99, "name": "From the dashboard", "color": "#000000", "description": None})
        after = data(await client.call_tool("list_tags", {}))
    assert "From the dashboard" not in {t["name"] for t in before["tags"]}
    assert "From the dashboard" in {t["name"] for t in after["tags"]}
