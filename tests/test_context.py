"""What a client can attach instead of calling tools: prompts (with completions), resources, and the
server instructions."""

from __future__ import annotations

import json

import pytest
from mcp import MCPError
from mcp.types import PromptReference

from .mcp_helpers import MODES, connect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", MODES)
async def test_prompts_are_listed_and_walk_through_the_right_tools(shared_sandbox, mode):
    async with connect(shared_sandbox, mode=mode) as (client, _):
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        report = await client.get_prompt("missed_calls_report", {"period": "last_week", "line": "Sales"})
        digest = await client.get_prompt("daily_digest", {"date": "yesterday"})
        history = await client.get_prompt("caller_history", {"number": "+33 6 52 60 18 15"})
        review = await client.get_prompt("tag_review", {"tag": "VIP", "period": "this_month"})
    assert set(prompts) == {"missed_calls_report", "daily_digest", "caller_history", "tag_review"}
    assert {a.name for a in prompts["missed_calls_report"].arguments} == {"period", "line"}
    assert [a.name for a in prompts["caller_history"].arguments if a.required] == ["number"]
    texts = {
        name: result.messages[0].content.text
        for name, result in [("report", report), ("digest", digest), ("history", history), ("review", review)]
    }
    assert "summarize_calls" in texts["report"] and "line='Sales'" in texts["report"]
    assert "since='yesterday'" in texts["digest"]
    assert "number='+33 6 52 60 18 15'" in texts["history"] and "list_calls" in texts["history"]
    assert "tags ['VIP']" in texts["review"]


async def test_prompt_arguments_complete_line_and_tag_names(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        lines = await client.complete(PromptReference(name="missed_calls_report"), {"name": "line", "value": "sa"})
        tags = await client.complete(PromptReference(name="tag_review"), {"name": "tag", "value": "f"})
        periods = await client.complete(PromptReference(name="tag_review"), {"name": "period", "value": "last"})
        partial = await client.complete(PromptReference(name="tag_review"), {"name": "tag", "value": "port"})
    assert lines.completion.values == ["Sales", "Sales Germany"]
    assert tags.completion.values == ["Follow-up"]
    assert partial.completion.values == ["Important"]
    assert periods.completion.values == ["last_week", "last_month", "last_7_days", "last_30_days"]


@pytest.mark.parametrize("mode", MODES)
async def test_resources_are_listed_and_readable_as_json(shared_sandbox, mode):
    call = shared_sandbox.data.calls[-1]
    async with connect(shared_sandbox, mode=mode) as (client, _):
        listed = {r.uri: r for r in (await client.list_resources()).resources if r.uri.startswith("sipsim://")}
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
        contents = {uri: (await client.read_resource(uri)).contents[0] for uri in listed}
        one_call = (await client.read_resource(f"sipsim://calls/{call['id']}")).contents[0]
    assert set(listed) == {"sipsim://account", "sipsim://lines", "sipsim://tags"}
    assert set(templates) == {"sipsim://calls/{call_id}"}
    assert all(r.mime_type == "application/json" for r in listed.values())
    assert templates["sipsim://calls/{call_id}"].mime_type == "application/json"
    assert all(c.mime_type == "application/json" for c in [*contents.values(), one_call])
    assert json.loads(contents["sipsim://account"].text)["company_name"] == shared_sandbox.data.account["company_name"]
    assert {line["name"] for line in json.loads(contents["sipsim://lines"].text)} == {
        p["name"] for p in shared_sandbox.data.phones
    }
    assert {tag["name"] for tag in json.loads(contents["sipsim://tags"].text)} == {
        t["name"] for t in shared_sandbox.data.tags
    }
    assert json.loads(one_call.text)["pbx_id"] == call["pbx_id"]


async def test_an_unknown_call_resource_is_an_error_that_says_why(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        with pytest.raises(MCPError) as failure:
            await client.read_resource("sipsim://calls/1")
    assert "Call not found" in str(failure.value)


async def test_resources_follow_the_configured_scopes(shared_sandbox):
    async with connect(shared_sandbox, scopes="calls.read tags.read") as (client, _):
        listed = {r.uri for r in (await client.list_resources()).resources if r.uri.startswith("sipsim://")}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert listed == {"sipsim://tags"}  # (the ui:// view of the call tools: test_dashboard.py)
    assert templates == {"sipsim://calls/{call_id}"}


async def test_instructions_tell_a_model_how_to_use_windows_summaries_and_confirmations(shared_sandbox):
    async with connect(shared_sandbox, mode="legacy") as (client, _):
        instructions = client.instructions
    for words in ("last_week", "summarize_calls", "page=", "confirmation_code", "time zone"):
        assert words in instructions
