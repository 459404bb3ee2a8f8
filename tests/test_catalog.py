"""README's tool table, the manifest's tool list and the tools/list snapshot are generated from the tool
declarations, and are never stale."""

from __future__ import annotations

import pytest

from sipsim_mcp.api.endpoints import GET_ACCOUNT
from sipsim_mcp.app import catalog
from sipsim_mcp.tools.base import tool
from sipsim_mcp.tools.fields import NoInput


def test_what_is_generated_from_the_declarations_is_up_to_date():
    stale = [str(path.relative_to(catalog.ROOT)) for path in catalog.stale()]
    assert not stale, f"{', '.join(stale)} stale: run `{catalog.COMMAND}` and review the diff"


def test_the_command_names_and_rewrites_a_stale_file(tmp_path, monkeypatch, capsys):
    original = catalog.README.read_text()
    readme = tmp_path / "README.md"
    readme.write_text(original.replace("| `get_account` |", "| `get_acount` |"))
    monkeypatch.setattr(catalog, "README", readme)
    assert catalog.main([]) == 1
    assert f"stale: {readme}" in capsys.readouterr().out
    assert catalog.main(["--write"]) == 0
    assert readme.read_text() == original
    assert catalog.main([]) == 0


def test_a_write_tool_must_say_whether_it_is_destructive_and_idempotent():
    with pytest.raises(TypeError, match="destructive and idempotent"):
        tool(name="x", title="X", endpoint=GET_ACCOUNT, input=NoInput, output=NoInput, write=True)
