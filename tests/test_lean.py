"""What a model pays for: tools/list within its byte budgets (reported per tool), lean schemas that
still type every answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sipsim_mcp.config import DEFAULT_SCOPES, KNOWN_SCOPES

from .mcp_helpers import connect

pytestmark = pytest.mark.anyio

#: Bytes of compact JSON. The model-facing part is what hosts put in front of the model (name, title,
#: description, input schema, annotations); the whole list adds the output schemas.
BUDGETS = {
    "default": {"scopes": DEFAULT_SCOPES, "model": 12_000, "whole": 20_000},
    "all": {"scopes": KNOWN_SCOPES, "model": None, "whole": 28_000},
}


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def listed(sandbox, scopes: frozenset[str]) -> list[dict[str, Any]]:
    async with connect(sandbox, scopes=" ".join(sorted(scopes))) as (client, _):
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def model_facing(tool: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in tool.items() if key != "outputSchema"}


@pytest.mark.parametrize("scopes", BUDGETS)
async def test_tools_list_fits_its_byte_budget(shared_sandbox, scopes):
    budget = BUDGETS[scopes]
    tools = await listed(shared_sandbox, budget["scopes"])
    report = "\n".join(
        f"{tool['name']:<24} model {size(model_facing(tool)):>6} B   output schema {size(tool['outputSchema']):>6} B"
        for tool in tools
    )
    model, whole = sum(size(model_facing(tool)) for tool in tools), size({"tools": tools})
    print(f"\ntools/list, {scopes} scopes: {len(tools)} tools, model-facing {model} B, whole {whole} B\n{report}")
    assert whole <= budget["whole"], f"tools/list is {whole} B, over its {budget['whole']} B budget:\n{report}"
    if budget["model"] is not None:
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
    assert row["duration_s"] == {"type": "integer"} and row["tags"]["items"] == {"type": "string"}
    write = tools["create_tag"]["outputSchema"]
    assert write["properties"]["outcome"]["enum"][0] == "done" and write["required"] == ["outcome", "message"]
    assert write["properties"]["result"]["properties"]["name"] == {"type": "string"}
