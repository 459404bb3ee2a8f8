"""README.md stays true: its tool table, its configuration table and its two commands match the code."""

from __future__ import annotations

import re

from sipsim_mcp.config import Settings
from sipsim_mcp.endpoints import ALL_ENDPOINTS
from sipsim_mcp.tools.inventory import TOOLS

from .external import ROOT

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
    rows = table_rows(r"`([a-z_]+)`")
    tools = {name: row for name, row in rows.items() if len(row) == 4}
    assert set(tools) == {spec.name for spec in TOOLS}
    for spec in TOOLS:
        _, api, scope, hints = tools[spec.name]
        assert api == f"`{spec.endpoint.method} {spec.endpoint.path}`"
        expected_scope = " or ".join(f"`{s}`" for s in spec.endpoint.scopes)
        if spec.also_needs:
            expected_scope += " (+ " + ", ".join(f"`{s}`" for s in spec.also_needs) + ")"
        assert scope == expected_scope, spec.name
        a = spec.annotations
        words = ["read-only"] if a.read_only_hint else ["write"]
        words += [w for w, on in (("destructive", a.destructive_hint), ("idempotent", a.idempotent_hint)) if on]
        words += ["open-world"] if a.open_world_hint else []
        assert hints == ", ".join(words), spec.name


def test_every_setting_is_documented():
    documented = set(table_rows(r"`(SIPSIM_[A-Z_]+)`"))
    assert documented == {f"SIPSIM_{name.upper()}" for name in Settings.model_fields}


def test_the_test_command_is_what_ci_runs():
    block = re.search(r"## Run the tests\n\n```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    ci = (ROOT / ".ci" / "run").read_text()
    assert block == ['pip install -e ".[test]"', "python -m pytest"]
    assert 'python -m pip install --quiet -e ".[test]"' in ci
    assert ci.rstrip().endswith("python -m pytest")


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
