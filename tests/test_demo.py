"""Stable demo data: the demo's calls end at midnight (Paris time) of the day it runs, so every launch on
one day serves the same call ids and numbers (a confirmation code, a note, a two-command Inspector flow
stay valid)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import pytest
from mcp import Client, StdioServerParameters

from sipsim_mcp.sandbox import SandboxConfig
from sipsim_mcp.sandbox.dataset import build_dataset, start_of_day

from .external import ROOT, server_env
from .mcp_helpers import data

pytestmark = [pytest.mark.anyio, pytest.mark.clock]


@pytest.mark.parametrize(
    "moment",
    ["2026-11-28T00:00:00+01:00", "2026-11-28T10:00:00+01:00", "2026-11-28T23:59:59+01:00"],
)
def test_any_time_of_a_day_anchors_at_its_paris_midnight(moment):
    assert start_of_day(datetime.fromisoformat(moment)) == datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)


def test_summer_time_midnight_is_paris_midnight():
    assert start_of_day(datetime(2026, 7, 14, 12, 0, tzinfo=timezone.utc)) == datetime(
        2026, 7, 13, 22, 0, tzinfo=timezone.utc
    )


def test_a_data_set_without_an_anchor_is_todays_from_midnight():
    today = build_dataset(SandboxConfig(calls=300))
    assert today.anchor == start_of_day(datetime.now(timezone.utc))
    assert today.calls == build_dataset(SandboxConfig(calls=300, anchor=today.anchor)).calls


async def demo_answers(**env: str) -> tuple[list[int], dict]:
    """One `sipsim-mcp --demo` launch over stdio, as a host runs it: last week's first call ids and totals."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "sipsim_mcp", "--demo"], cwd=str(ROOT), env=server_env(**env)
    )
    async with Client(params, mode="legacy") as client:
        page = data(await client.call_tool("list_calls", {"since": "last_week", "limit": 10}))
        summary = data(await client.call_tool("summarize_calls", {"since": "last_week"}))
    return [row["id"] for row in page["calls"]], summary["totals"]


async def test_two_demo_launches_serve_the_same_ids_and_numbers():
    first, second = await demo_answers(), await demo_answers()
    assert first == second
    assert len(first[0]) == 10 and first[1]["calls"] > 100


async def test_a_demo_on_a_set_clock_serves_the_data_of_that_day():
    """SIPSIM_NOW makes a demo reproducible: its data ends at midnight (Paris) of that day, and its windows are
    read on that clock, whatever day it runs."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sipsim_mcp", "--demo"],
        cwd=str(ROOT),
        env=server_env(SIPSIM_NOW="2025-03-05T10:00:00+01:00"),
    )
    async with Client(params) as client:
        page = data(await client.call_tool("list_calls", {"since": "yesterday", "limit": 5}))
    assert page["window"]["since_local"].startswith("2025-03-04T00:00")
    assert page["returned"] == 5
    assert all(row["time"].startswith("2025-03-04") for row in page["calls"])
