"""Release files agree with each other and with the code: one version everywhere, LICENSE, CHANGELOG,
server.json for the MCP registry (its variables are settings the server reads, secrets marked), and the
file names README gives for the wheel, the sdist and the bundle."""

from __future__ import annotations

import json
import re
import typing

from pydantic import SecretStr

from sipsim_mcp import __version__
from sipsim_mcp.api.config import KNOWN_SCOPES, Settings
from sipsim_mcp.app.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

from .external import ROOT

PYPROJECT = (ROOT / "pyproject.toml").read_text()
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
SERVER = json.loads((ROOT / "server.json").read_text())
README = (ROOT / "README.md").read_text()
[PACKAGE] = SERVER["packages"]


def project(key: str) -> str:
    return re.search(rf'^{key} = "(.*)"$', PYPROJECT, re.M).group(1)


def test_one_version_everywhere():
    versions = {
        "pyproject.toml": project("version"),
        "manifest.json": MANIFEST["version"],
        "server.json": SERVER["version"],
        "server.json package": PACKAGE["version"],
    }
    assert versions == dict.fromkeys(versions, __version__)
    assert f"## [{__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_the_license_is_the_declared_one():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert project("license") == MANIFEST["license"] == "MIT"


def test_server_json_describes_this_package_for_the_registry():
    assert SERVER["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", SERVER["name"])
    assert 1 <= len(SERVER["description"]) <= 100  # the registry's limit
    assert (PACKAGE["registryType"], PACKAGE["identifier"]) == ("pypi", project("name"))
    assert PACKAGE["transport"] == {"type": "stdio"}
    # PyPI ownership check: the package's README names the server.
    assert f"<!-- mcp-name: {SERVER['name']} -->" in README


def test_server_json_variables_are_settings_with_their_defaults_and_secrets_marked():
    variables = {v["name"]: v for v in PACKAGE["environmentVariables"]}
    fields = Settings.model_fields
    for name, variable in variables.items():
        field = fields[name.removeprefix("SIPSIM_").lower()]
        secret = SecretStr in typing.get_args(field.annotation) or field.annotation is SecretStr
        assert variable["isSecret"] is secret, name
        assert variable["isRequired"] is (name in ("SIPSIM_CLIENT_ID", "SIPSIM_CLIENT_SECRET")), name
        default = field.default
        if "default" in variable:
            shown = " ".join(sorted(default)) if isinstance(default, frozenset) else str(default).lower()
            assert variable["default"].lower() == shown, name
        if "choices" in variable:
            assert variable["choices"] == list(typing.get_args(field.annotation)), name
    # everything a user can set in the bundle can be set from the registry entry too
    assert set(MANIFEST["server"]["mcp_config"]["env"]) <= set(variables)


def test_readme_names_the_files_a_build_and_a_pack_really_write():
    assert set(re.findall(r"sipsim_mcp-[\d.]+(?:-py3-none-any\.whl|\.tar\.gz)", README)) == {
        f"sipsim_mcp-{__version__}-py3-none-any.whl",
        f"sipsim_mcp-{__version__}.tar.gz",
    }
    pack = re.search(r"`npx @anthropic-ai/mcpb@([\d.]+) pack \. (\S+)`", README)
    assert pack.group(2) == f"sipsim-mcp-{__version__}.mcpb"
    assert f"@anthropic-ai/mcpb@{pack.group(1)}" in (ROOT / "tests" / "external.py").read_text()
    checklist = (ROOT / "CONTRIBUTING.md").read_text().split("## Release checklist", 1)[1]
    for step in ("CHANGELOG.md", "python -m build", "mcpb@", "server.json", "twine upload", "mcp-publisher"):
        assert step in checklist, step


def test_readme_gives_the_simulator_credentials_and_every_demo_scope():
    demo = README.split("## Try it in one command", 1)[1].split("\n## ", 1)[0]
    assert f"client id `{DEMO_CLIENT_ID}`, client secret `{DEMO_CLIENT_SECRET}`" in demo
    assert set(re.findall(r"`([a-z]+(?:\.[a-z]+)+)`", demo)) == KNOWN_SCOPES


def test_registry_commands_are_marked_as_not_yet_working():
    """The package is not on PyPI: every bare `pip install sipsim-mcp` / `uvx sipsim-mcp` says so."""
    text = " ".join(README.split())
    for match in re.finditer(r"pip install sipsim-mcp|uvx sipsim-mcp", text):
        before = text[max(0, match.start() - 80) : match.start()]
        assert re.search(r"once published|until the package is on PyPI", before, re.I), before
