"""README.md stays true: its tool table, its configuration table and its two commands match the code."""

from __future__ import annotations

import re

import pytest

from sipsim_mcp.api.config import Settings
from sipsim_mcp.api.endpoints import ALL_ENDPOINTS
from sipsim_mcp.app import catalog
from sipsim_mcp.sandbox import Sandbox, SandboxConfig
from sipsim_mcp.sandbox.dataset import start_of_day
from sipsim_mcp.tools.inventory import TOOLS

from .conftest import NOW
from .external import ROOT
from .mcp_helpers import connect, data

README = (ROOT / "README.md").read_text()


def table_rows(first_cell: str) -> dict[str, list[str]]:
    """Rows of README tables whose first cell matches `first_cell` (a regex), by that cell's value."""
    rows = {}
    for line in README.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(first_cell, cells[0]) if cells else None
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


def test_the_tool_table_matches_the_inventory():
    """Each tool has its row, and the row says what the catalog derives from the tool's declaration."""
    rows = table_rows(r"`([a-z_]+)`")
    tools = {name: row for name, row in rows.items() if len(row) == 4}
    assert set(tools) == {spec.name for spec in TOOLS}
    for spec in TOOLS:
        assert "| " + " | ".join([f"`{spec.name}`", *tools[spec.name]]) + " |" == catalog.readme_row(spec), spec.name


def test_every_setting_is_documented():
    documented = set(table_rows(r"`(SIPSIM_[A-Z_]+)`"))
    assert documented == {f"SIPSIM_{name.upper()}" for name in Settings.model_fields}


def test_the_test_command_is_what_ci_runs():
    block = re.search(r"## Run the tests\n\n```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    ci = (ROOT / ".ci" / "run").read_text()
    assert block == ['pip install -e ".[test]"', "python -m pytest -n auto"]
    assert 'python -m pip install --quiet -e ".[test]"' in ci
    assert "\npython -m pytest -n auto\n" in ci  # as written, on a line of its own


def test_the_demo_command_is_the_documented_one():
    block = re.search(r"## Try it in one command\n(?:(?!\n## ).)*?```bash\n(.*?)```", README, re.S).group(1).strip()
    assert block.endswith("pip install -e . && sipsim-mcp --demo")


def test_every_inferred_endpoint_is_listed_as_inferred():
    inferred = README.split("Inferred (each may need a change", 1)[1].split("## Security", 1)[0]
    documented = README.split("Documented: OAuth 2.0", 1)[1].split("Inferred (each", 1)[0]
    for endpoint in ALL_ENDPOINTS:
        name = f"`{endpoint.method} {endpoint.path}`"
        if endpoint.documented:
            assert name not in inferred, name
        else:
            assert name in inferred, name
            assert endpoint.note, name
    assert "`GET /calls`" in documented


def test_every_picture_in_readme_exists():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures
    for path in pictures:
        assert (ROOT / path).is_file(), path


@pytest.mark.anyio
async def test_the_example_conversations_quote_the_demo_data():
    """README's example numbers are what the tools answer on the demo's data of Sat 28 Nov 2026 at 10:00."""
    with Sandbox(SandboxConfig(anchor=start_of_day(NOW))) as sandbox:
        async with connect(sandbox) as (client, _):
            sales = data(await client.call_tool("summarize_calls", {"since": "last_week", "line": "Sales"}))
            month = data(await client.call_tool("summarize_calls", {"since": "this_month", "top_callers": 3}))
            top = month["top_callers"][0]
            calls = data(await client.call_tool("list_calls", {"since": "last_week", "number": "06 52 60 18 15"}))
    examples = " ".join(README.split("Example conversations", 1)[1].split("The 48 questions", 1)[0].split())
    examples = examples.replace(" > ", " ")
    totals = sales["totals"]
    assert (
        f"{totals['missed']} of the {totals['inbound']} incoming calls on Sales were missed last week "
        f"(Mon 16 Nov 00:00 → Mon 23 Nov 00:00, Paris time): a {totals['missed_rate'] * 100:.1f} % miss rate; "
        f"{totals['voicemail']} of them left a voicemail." in examples
    )
    assert top["number"] == "+33652601815"
    assert f"{top['name']} (+33 6 52 60 18 15): {top['calls']} calls this month, {top['missed']} of them missed" in (
        examples
    )
    missed = [row["id"] for row in calls["calls"] if row["outcome"] in ("missed", "voicemail")]
    left_voicemail = all(row["outcome"] == "voicemail" for row in calls["calls"] if row["id"] in missed)
    assert len(missed) == 2 and left_voicemail
    assert f"→ {calls['returned']} calls, two of them missed (both left a voicemail)" in examples
    assert f'tag_call(call_id="{missed[0]}", tag="VIP")' in examples
    assert f"the same for {missed[1]}." in examples


def test_every_simulator_variant_is_named_in_readme():
    from sipsim_mcp.sandbox import VARIANTS

    section = README.split("## Documented vs inferred", 1)[1].split("## Security", 1)[0]
    named = set(re.findall(r"`([a-z_0-9]+)`", section.split("the variants are ", 1)[1].split(";", 1)[0]))
    assert named == set(VARIANTS)
    assert "sipsim-mcp doctor --probe" in section and "never values" in section
