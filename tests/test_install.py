"""A newcomer's first hour, as README tells it: its install blocks run as written in a copy of the
checkout (a virtualenv, `pip install .`, `python -m build`, the wheel in a second clean virtualenv,
`uvx --from` the wheel), then the installed server answers MCP and Claude Code connects with README's
own `claude mcp add` lines. Everything is built once per session."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.server.apps import APP_MIME_TYPE

from sipsim_mcp import __version__
from sipsim_mcp.tools.views import CALLS_DASHBOARD

from .external import ROOT, in_a_terminal, node_tool, server_env, unavailable
from .mcp_helpers import data
from .replicas import Command

pytestmark = pytest.mark.external

README = (ROOT / "README.md").read_text()
WHEEL = f"sipsim_mcp-{__version__}-py3-none-any.whl"
SDIST = f"sipsim_mcp-{__version__}.tar.gz"


def bash_blocks(heading: str) -> list[str]:
    """The ```bash blocks of one README section, as written."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def shell_env(home: Path, *path_first: Path) -> dict[str, str]:
    """A shell for a newcomer: their own HOME, system tools on PATH but not this test run's virtualenv
    (no `sipsim-mcp`, no `uv` until README installs them), the download caches of this machine reused."""
    real_cache = Path.home() / ".cache"
    ours = str(Path(sys.executable).parent)
    path = [str(p) for p in path_first] + [p for p in os.environ["PATH"].split(os.pathsep) if p != ours]
    env = {k: v for k, v in server_env().items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {
        **env,
        "HOME": str(home),
        "PATH": os.pathsep.join(path),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(real_cache / "pip")),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(real_cache / "uv")),
    }


@dataclass
class Install:
    checkout: Path
    home: Path
    output: str

    @property
    def command(self) -> Path:
        """`sipsim-mcp` as the wheel block installs it: ~/.sipsim-mcp/bin/sipsim-mcp."""
        return self.home / ".sipsim-mcp" / "bin" / "sipsim-mcp"


def copy_checkout(target: Path) -> None:
    """The files of this checkout a clone would have (tracked and new, not ignored ones)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    base = tmp_path_factory.mktemp("newcomer")
    checkout, home = base / "sipsim-mcp", base / "home"
    home.mkdir()
    copy_checkout(checkout)
    [checkout_block, wheel_block] = bash_blocks("Install")[:2]
    script = "set -euo pipefail\n" + checkout_block + wheel_block
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=checkout,
        env=shell_env(home),
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Install(checkout, home, result.stdout)


def test_readme_install_blocks_run_as_written(installed: Install):
    out = installed.output
    assert out.count(f"sipsim-mcp {__version__}") == 2  # --version from the checkout install and through uvx
    assert out.count("all good") == 2  # doctor --demo from the checkout install and from the wheel
    assert installed.command.exists()
    assert (installed.checkout / ".venv" / "bin" / "uvx").exists()  # the block installed the uv it uses


def test_the_one_command_tryout_runs_as_written_in_a_terminal(installed: Install):
    """README's "Try it in one command", typed in a terminal of the checkout: install, then the tour."""
    [block] = bash_blocks("Try it in one command")
    output, code = in_a_terminal(["bash", "-c", block], shell_env(installed.home), cwd=installed.checkout)
    text = output.decode(errors="replace")
    assert code == 0, text[-3000:]
    assert "22 tools" in text and "-> summarize_calls" in text and "the tour ends here" in text


def test_the_build_writes_the_files_readme_names(installed: Install):
    dist = installed.checkout / "dist"
    assert sorted(p.name for p in dist.iterdir()) == sorted([WHEEL, SDIST])
    with tarfile.open(dist / SDIST) as sdist:
        shipped = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "server.json", "manifest.json", "sipsim_mcp/app/cli.py"} <= shipped
    assert not any(name.startswith(("tests/", "evals/", ".ci/")) for name in shipped)
    with zipfile.ZipFile(dist / WHEEL) as wheel:
        names = set(wheel.namelist())
    assert f"sipsim_mcp-{__version__}.dist-info/licenses/LICENSE" in names
    assert "sipsim_mcp/sandbox/dataset.py" in names
    assert "sipsim_mcp/ui/calls_dashboard.html" in names & shipped  # the built view; no Node at install time


def test_the_bundle_command_writes_the_file_readme_names(installed: Install, tmp_path: Path):
    """README's `npx @anthropic-ai/mcpb@... pack . sipsim-mcp-X.Y.Z.mcpb`, run as written in the checkout."""
    if shutil.which("npx") is None:
        unavailable("npx is not installed")
    command = re.search(r"`(npx @anthropic-ai/mcpb@[\d.]+ pack \. (\S+\.mcpb))`", README)
    env = {**shell_env(tmp_path), "npm_config_cache": str(Path.home() / ".npm")}
    subprocess.run(
        ["bash", "-c", command.group(1)], cwd=installed.checkout, env=env, check=True, capture_output=True, timeout=600
    )
    bundle = installed.checkout / command.group(2)
    assert bundle.name == f"sipsim-mcp-{__version__}.mcpb"
    with zipfile.ZipFile(bundle) as packed:
        names = set(packed.namelist())
    assert {"manifest.json", "server/main.py", "sipsim_mcp/mcp/server.py", "LICENSE"} <= names
    assert not any(name.startswith((".venv/", "dist/", "tests/")) for name in names)


@pytest.mark.anyio
async def test_the_installed_wheel_serves_mcp(installed: Install):
    params = StdioServerParameters(command=str(installed.command), args=["--demo"], env=server_env(), cwd="/")
    async with Client(params, mode="legacy", read_timeout_seconds=120) as client:
        tools = (await client.list_tools()).tools
        summary = data(await client.call_tool("summarize_calls", {"since": "last_30_days"}))
        [view] = (await client.read_resource(CALLS_DASHBOARD)).contents
    assert len(tools) == 22
    assert summary["totals"]["calls"] > 100
    assert view.mime_type == APP_MIME_TYPE and view.text.startswith("<!doctype html>")


def test_claude_code_connects_with_the_readme_lines_from_any_directory(installed: Install, tmp_path: Path):
    """README's Claude Code block typed in the shell where the wheel is installed, the HTTP server of README
    running with `SIPSIM_MCP_AUTH_TOKEN=$TOKEN` (on a free port instead of 8000); then `claude mcp list` in
    another directory connects to each server: they are registered for the user, not for one directory."""
    claude = node_tool("claude")
    [block] = [b for b in bash_blocks("Connect a client") if b.startswith("claude mcp add")]
    *adds, listing = [line for line in block.splitlines() if line.strip()]
    assert listing.startswith("claude mcp list") and len(adds) == 3
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere" / "project"
    home.mkdir()
    elsewhere.mkdir(parents=True)
    token = "claude-code-token-0123456789"
    env = {
        **shell_env(home, installed.command.parent, claude.parent),
        "TOKEN": token,
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    http = Command(
        lambda port: [str(installed.command), "--demo", "--transport", "http", "--port", str(port)],
        tmp_path / "server.log",
        "sipsim-mcp --transport http",
        env={**server_env(), "SIPSIM_MCP_AUTH_TOKEN": token},
    )
    with http:
        for line in adds:
            line = line.replace("127.0.0.1:8000", f"127.0.0.1:{http.port}")
            subprocess.run(["bash", "-c", line], cwd=home, env=env, check=True, capture_output=True, timeout=60)
        listed = subprocess.run(
            ["bash", "-c", listing], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180
        ).stdout
    status = {line.split(":")[0]: line for line in listed.splitlines() if line.startswith("sipsim")}
    assert set(status) == {"sipsim-demo", "sipsim", "sipsim-http"}, listed
    assert all("Connected" in line for line in status.values()), listed
    recorded = json.loads((home / ".claude.json").read_text())
    assert set(recorded["mcpServers"]) == set(status)  # the user's servers, not one project's
    assert recorded["mcpServers"]["sipsim-demo"]["command"] == str(installed.command)  # usable from anywhere
