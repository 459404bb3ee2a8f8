"""Answers a person and a model read right: a rate comes with its denominator, and a call row says how
the call ended (answered, no answer, busy, missed, voicemail), checked against the simulator's raw calls."""

from __future__ import annotations

import pytest

from sipsim_mcp.api.models import Call
from sipsim_mcp.tools.calls import outcome

from .mcp_helpers import connect, data

pytestmark = pytest.mark.anyio


def raw_outcome(raw: dict) -> str:
    """How the simulator generated the call to end."""
    if raw["call_type"] == "voicemail":
        return "voicemail"
    if raw["status"] == "ANSWER":
        return "answered"
    if raw["direction"] == "inbound":
        return "missed"
    return {"NOANSWER": "no answer", "BUSY": "busy"}[raw["status"]]


async def test_list_calls_rows_say_how_each_call_ended(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        default = data(await client.call_tool("list_calls", {"since": "last_30_days", "limit": 5}))
        page = data(
            await client.call_tool("list_calls", {"since": "last_30_days", "limit": 200, "fields": ["outcome"]})
        )
    assert all("outcome" in row for row in default["calls"])  # a default column
    raw = {call["id"]: call for call in shared_sandbox.data.calls}
    seen = {row["id"]: row["outcome"] for row in page["calls"]}
    assert len(seen) == 200
    assert seen == {call_id: raw_outcome(raw[call_id]) for call_id in seen}
    assert set(seen.values()) == {"answered", "no answer", "busy", "missed", "voicemail"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"call_type": "Outgoing", "status": "answer"}, "answered"),
        ({"direction": "inbound", "status": "NOANSWER"}, "missed"),
        ({"call_type": "inbound"}, "answered"),
        ({"direction": "outgoing", "status": "SOMETHING_NEW"}, None),
        ({}, None),
    ],
)
def test_an_outcome_is_read_leniently_and_never_guessed(fields, expected):
    assert outcome(Call(id=1, **fields)) == expected


async def test_a_rate_comes_with_its_denominator(shared_sandbox):
    async with connect(shared_sandbox) as (client, _):
        summary = data(
            await client.call_tool(
                "summarize_calls",
                {"since": "last_week", "group_by": ["line"], "metrics": ["missed_rate", "answer_rate"]},
            )
        )
    for row in summary["groups"]:
        assert set(row) - {"group"} <= {"missed_rate", "inbound", "answer_rate", "calls"}
        assert {"inbound", "calls"} <= set(row), row
    assert {"missed_rate", "answer_rate"} <= set().union(*summary["groups"])
