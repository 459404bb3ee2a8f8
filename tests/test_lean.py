"""What a model pays for: tools/list within its byte budgets (reported per tool), lean schemas that
still type every answer, and answers said once as compact text that loses nothing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from sipsim_mcp.api.config import DEFAULT_SCOPES, KNOWN_SCOPES
from sipsim_mcp.mcp.render import render
from sipsim_mcp.tools.text import TEXT_RULES

from .mcp_helpers import RECEIVER, assert_text_carries, connect, data

pytestmark = pytest.mark.anyio

#: Bytes of compact JSON. The model-facing part is what hosts put in front of the model (name, title,
#: description, input schema, annotations); the whole list adds the output schemas (and the views' `_meta`).
#: "all": every scope and the webhook receiver (its live-calls tool).
BUDGETS = {
    "default": {"scopes": DEFAULT_SCOPES, "model": 10_000, "whole": 19_100, "receiver": False},
    "all": {"scopes": KNOWN_SCOPES, "model": 13_700, "whole": 25_800, "receiver": True},
}
MODEL_FACING = ("name", "title", "description", "inputSchema", "annotations")


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def listed(sandbox, scopes: frozenset[str], receiver: bool = False) -> list[dict[str, Any]]:
    async with connect(sandbox, scopes=" ".join(sorted(scopes)), **(RECEIVER if receiver else {})) as (client, _):
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def model_facing(tool: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in tool.items() if key in MODEL_FACING}


@pytest.mark.parametrize("scopes", BUDGETS)
async def test_tools_list_fits_its_byte_budget(shared_sandbox, scopes):
    budget = BUDGETS[scopes]
    tools = await listed(shared_sandbox, budget["scopes"], budget["receiver"])
    report = "\n".join(
        f"{tool['name']:<24} model {size(model_facing(tool)):>6} B   output schema {size(tool['outputSchema']):>6} B"
        for tool in tools
    )
    model, whole = sum(size(model_facing(tool)) for tool in tools), size({"tools": tools})
    per_tool = f"{model // len(tools)} B and {whole // len(tools)} B a tool"
    print(f"\ntools/list, {scopes} scopes: {len(tools)} tools, model-facing {model} B, whole {whole} B ({per_tool})")
    print(report)
    assert whole <= budget["whole"], f"tools/list is {whole} B, over its {budget['whole']} B budget:\n{report}"
    assert model <= budget["model"], f"the model-facing part is {model} B, over {budget['model']} B:\n{report}"


async def test_lean_schemas_carry_no_pydantic_boilerplate(shared_sandbox):
    """No auto titles, no null defaults, no `anyOf [X, null]`; each parameter's text said once."""
    tools = await listed(shared_sandbox, KNOWN_SCOPES)
    text = json.dumps(tools)
    assert '"title": "' not in json.dumps([t["inputSchema"] for t in tools] + [t["outputSchema"] for t in tools])
    assert '{"type": "null"}' not in text and '"default": null' not in text
    said: dict[tuple[str, str], str] = {}
    for tool in tools:
        for name, schema in tool["inputSchema"].get("properties", {}).items():
            if "description" in schema:
                first = said.setdefault((name, schema["description"]), tool["name"])
                assert first == tool["name"], f"{tool['name']}.{name} repeats the text {first} gives"
    codes = [t["inputSchema"]["properties"]["confirmation_code"] for t in tools if "confirmation_code" in str(t)]
    assert sum("description" in code for code in codes) == 1


async def test_lean_output_schemas_still_type_the_answers(shared_sandbox):
    """Fields keep their types and the answer's guaranteed fields stay required."""
    tools = {tool["name"]: tool for tool in await listed(shared_sandbox, KNOWN_SCOPES)}
    page = tools["list_calls"]["outputSchema"]
    assert set(page["required"]) >= {"window", "calls", "returned", "has_more"}
    row = page["properties"]["calls"]["items"]["properties"]

    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        return page["$defs"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    assert row["duration_s"] == {"type": "integer"} and resolved(row["tags"])["items"] == {"type": "string"}
    write = tools["create_tag"]["outputSchema"]
    assert write["properties"]["outcome"]["enum"][0] == "done" and write["required"] == ["outcome", "message"]
    assert write["properties"]["result"]["properties"]["name"] == {"type": "string"}


# --- answers: compact text, nothing lost ------------------------------------------------------------


async def test_a_default_page_of_calls_is_compact_text_with_the_json_beside_it(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        result = await client.call_tool("list_calls", {"since": "last_week"})
    page, text = data(result), result.content[0].text  # data() checks the text loses nothing
    assert page["returned"] == 20 and page["page"]
    assert len(text.encode()) <= 2_048, text  # 2 KB, the outcome column included
    assert len(text.encode()) < size(page) / 1.8
    assert "T15:" not in text and ":46+01:00" not in text  # minute precision, the zone said once


def test_the_text_keeps_what_tables_make_tricky():
    """Separators and newlines inside values, rows missing columns, nested group keys, one row on a
    line (its number stays: the line's own number cannot be told apart), several years, no zone."""
    structured = {
        "outcome": "done",
        "message": "Two lines\nof text",
        "rows": [
            {"id": 1, "time": "2026-12-31T23:59:59+01:00", "from": "+331", "to": "+332", "line": "A|B"},
            {"id": 2, "time": "2027-01-01T00:10:00+01:00", "line": "Sales", "from": "+333", "to": "+339"},
            {"id": 3, "line": "Sales", "from": "+339", "to": "+334", "tags": ["x", "y"], "ok": False},
            {"group": {"line": "Sales", "day": "2027-01-01"}, "calls": 2, "rate": 0.5},
        ],
        "totals": {"calls": 3, "answer_rate": 0.667},
        "page": "abc_123",
    }
    text = render(structured, TEXT_RULES)
    assert_text_carries(text, structured)
    assert "line numbers (empty from/to): Sales +339" in text  # A|B has one row: its numbers stay
    assert "12-31 23:59" in text and "2027-01-01 00:10" in text


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text.replace("|0.5", "|0.05"),  # a number changed
        lambda text: text.replace("page: abc_123", "page: abc"),  # the page token cut
        lambda text: "\n".join(line for line in text.splitlines() if not line.startswith("3|")),  # a row lost
        lambda text: text.replace("|+334|", "||"),  # a to emptied that is not the line's number
    ],
)
def test_the_check_catches_a_text_that_loses_something(damage):
    structured = {
        "rows": [
            {"id": 2, "line": "Sales", "from": "+333", "to": "+339"},
            {"id": 3, "line": "Sales", "from": "+339", "to": "+334", "calls": 2, "rate": 0.5},
        ],
        "page": "abc_123",
    }
    text = render(structured, TEXT_RULES)
    assert_text_carries(text, structured)
    with pytest.raises((AssertionError, ValueError)):
        assert_text_carries(damage(text), structured)


async def test_the_benchmark_byte_measures_run_against_measured_baselines(shared_sandbox):
    """bench/run.py's byte measures (no timing here): ours against the SDK's own schemas and text."""
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).parents[1] / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = {**await bench.bench_tools_list(shared_sandbox), **await bench.bench_answer(shared_sandbox)}
    assert (
        figures["tools_list_default"]["ours"] <= BUDGETS["default"]["whole"] < figures["tools_list_default"]["baseline"]
    )
    assert figures["tools_list_default"]["ratio"] < 0.4 and figures["tools_list_all"]["ratio"] < 0.4
    assert figures["answer_text"]["ours"] <= 2_048 and figures["answer"]["ratio"] < 0.8
