"""The Claude Desktop bundle: manifest.json agrees with the server, passes the official `mcpb validate`,
packs with `mcpb pack`, and the server starts from the unpacked bundle with the manifest's own command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from sipsim_mcp import __version__
from sipsim_mcp.api.config import Settings
from sipsim_mcp.app.cli import BUNDLE_SETTINGS
from sipsim_mcp.tools.inventory import TOOLS

from .external import ROOT, node_tool, server_env, unavailable
from .mcp_helpers import data, error_text

MANIFEST = json.loads((ROOT / "manifest.json").read_text())


def test_the_manifest_lists_every_tool_with_its_description():
    listed = {tool["name"]: tool["description"] for tool in MANIFEST["tools"]}
    assert listed == {spec.name: spec.description.split("\n\n")[0].replace("\n", " ") for spec in TOOLS}


def test_the_manifest_passes_settings_the_server_reads():
    env = MANIFEST["server"]["mcp_config"]["env"]
    fields = set(Settings.model_fields)
    for variable, value in env.items():
        assert variable.removeprefix("SIPSIM_").lower() in fields, variable
        key = value.removeprefix("${user_config.").removesuffix("}")
        assert key in MANIFEST["user_config"], value
    assert set(MANIFEST["user_config"]) == {
        value.removeprefix("${user_config.").removesuffix("}") for value in env.values()
    }
    assert MANIFEST["user_config"]["client_secret"]["sensitive"] is True
    assert MANIFEST["version"] == __version__


def test_the_server_names_each_bundle_setting_by_its_title_in_the_manifest():
    """A bundle user fixes a setup in the extension's settings: the server's texts use the titles they see."""
    env = MANIFEST["server"]["mcp_config"]["env"]
    titles = {name: MANIFEST["user_config"][value[len("${user_config.") : -1]]["title"] for name, value in env.items()}
    assert titles == BUNDLE_SETTINGS


def bundle_env(**user_config: str) -> dict[str, str]:
    """The environment Claude Desktop gives the bundle's server: the manifest's env with `user_config` filled
    in, and unset settings left empty."""
    env = MANIFEST["server"]["mcp_config"]["env"]
    filled = {name: user_config.get(value[len("${user_config.") : -1], "") for name, value in env.items()}
    return server_env(**filled)


def first_answer(command: str, args: list[str], env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """Start a server as the bundle is started, call a tool; (the tool's answer, the server's instructions)."""

    async def ask() -> tuple[str, str]:
        params = StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))
        async with Client(params, mode="legacy", read_timeout_seconds=300) as client:
            answer = error_text(await client.call_tool("summarize_calls", {"since": "yesterday"}))
            return answer, client.instructions or ""

    return anyio.run(ask)


@pytest.mark.clock
@pytest.mark.parametrize(
    ("user_config", "says"),
    [
        ({}, ["fill in 'SIPSIM client id' and 'SIPSIM client secret'", "or tick 'Demo mode'"]),
        ({"demo": "false", "client_id": "${user_config.client_id}"}, ["or tick 'Demo mode'"]),
        (
            {"client_id": "id", "client_secret": "secret", "timezone": "Paris"},
            ["'Time zone' 'Paris' is not an IANA time zone", "Correct it in this extension's settings"],
        ),
    ],
    ids=["nothing-filled-in", "demo-off-placeholder-left", "invalid-time-zone"],
)
def test_started_by_the_bundle_the_fix_speaks_of_the_extensions_settings(user_config, says):
    """server/main.py (the bundle's entry point) tells the server its user set it up in Desktop's extension
    settings: every tool answers with those settings' titles, never variables, `env` entries or --demo."""
    answer, instructions = first_answer(sys.executable, ["server/main.py"], bundle_env(**user_config), ROOT)
    assert answer.startswith("The SIPSIM extension is not set up, so its tools cannot answer yet.")
    assert "this extension's settings (in Claude Desktop: Settings, Extensions, SIPSIM)" in answer
    assert all(part in answer for part in says), answer
    assert "SIPSIM_" not in answer and "`env`" not in answer and "--demo" not in answer
    assert "NOT SET UP" in instructions


@pytest.mark.external
def test_mcpb_validate_passes():
    result = subprocess.run(
        [str(node_tool("mcpb")), "validate", "manifest.json"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation passes" in result.stdout


@pytest.fixture
def unpacked_bundle(tmp_path: Path) -> Path:
    """`mcpb pack` the checkout, then `mcpb unpack` it, as Claude Desktop installs a .mcpb file."""
    bundle = tmp_path / "sipsim.mcpb"
    unpacked = tmp_path / "unpacked"
    mcpb = str(node_tool("mcpb"))
    subprocess.run([mcpb, "pack", ".", str(bundle)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    subprocess.run([mcpb, "unpack", str(bundle), str(unpacked)], check=True, capture_output=True, timeout=300)
    return unpacked


@pytest.fixture
def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        unavailable("uv is not installed (pip install uv)")
    return found


@pytest.mark.external
@pytest.mark.anyio
async def test_the_packed_bundle_runs_with_the_manifest_command(unpacked_bundle: Path, uv: str):
    unpacked = unpacked_bundle
    shipped = {str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()}
    assert {"manifest.json", "pyproject.toml", "README.md", "server/main.py", "sipsim_mcp/mcp/server.py"} <= shipped
    assert "sipsim_mcp/ui/calls_dashboard.html" in shipped  # the built view; its sources and npm packages are not
    assert not any(name.startswith(("tests/", "evals/", ".ci/", ".cache/", "ui/", "docs/")) for name in shipped)

    # Start it as a host would: the manifest's command, ${__dirname} and ${user_config.*} filled in.
    config = json.loads((unpacked / "manifest.json").read_text())["server"]["mcp_config"]
    user_config = {"demo": "true", "timezone": "Europe/Paris"}

    def fill(text: str) -> str:
        text = text.replace("${__dirname}", str(unpacked))
        for key in MANIFEST["user_config"]:
            text = text.replace(f"${{user_config.{key}}}", user_config.get(key, ""))
        return text

    params = StdioServerParameters(
        command=uv if config["command"] == "uv" else config["command"],
        args=[fill(arg) for arg in config["args"]],
        env=server_env(**{name: fill(value) for name, value in config["env"].items()}),
        cwd=str(unpacked.parent),
    )
    async with Client(params, mode="legacy", read_timeout_seconds=300) as client:
        tools = (await client.list_tools()).tools
        summary = data(await client.call_tool("summarize_calls", {"since": "yesterday"}))
    assert {tool.name for tool in tools} == {spec.name for spec in TOOLS}
    assert summary["window"]["timezone"] == "Europe/Paris"

    # installed with nothing filled in: the answer points to the extension's settings
    user_config = {}
    unset = StdioServerParameters(
        command=params.command,
        args=params.args,
        env=server_env(**{name: fill(value) for name, value in config["env"].items()}),
        cwd=params.cwd,
    )
    async with Client(unset, mode="legacy", read_timeout_seconds=300) as client:
        answer = error_text(await client.call_tool("summarize_calls", {"since": "yesterday"}))
    assert "The SIPSIM extension is not set up" in answer and "or tick 'Demo mode'" in answer
