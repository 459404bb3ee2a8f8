"""The server driven by real external clients, as users run them: the MCP Inspector CLI against
--demo, and three agent frameworks (each in its own virtualenv) against the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from .external import ROOT, framework_python, node_tool, server_env, server_launch
from .mcp_helpers import writes
from .replicas import Command

pytestmark = [pytest.mark.external, pytest.mark.clock]

CONFIRM_KEY = "inspector-test-key-0123456789"


def inspector(*args: str, **env: str) -> dict:
    """One MCP Inspector CLI invocation against `sipsim-mcp --demo` over stdio; its JSON output. The Inspector
    passes its server only a few variables (HOME, PATH...): the test's state directory is passed too."""
    env = {"SIPSIM_STATE_DIR": os.path.join(os.environ["XDG_STATE_HOME"], "sipsim-mcp"), **env}
    options = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    result = subprocess.run(
        [str(node_tool("mcp-inspector")), "--cli", *options, sys.executable, "-m", "sipsim_mcp", "--demo", *args],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_inspector_lists_tools_prompts_and_resources():
    tools = inspector("--method", "tools/list")["tools"]
    prompts = inspector("--method", "prompts/list")["prompts"]
    resources = inspector("--method", "resources/list")["resources"]
    assert len(tools) == 22
    assert {t["name"]: t["annotations"]["readOnlyHint"] for t in tools}["start_call"] is False
    assert {p["name"] for p in prompts} == {
        "missed_calls_report",
        "daily_digest",
        "caller_history",
        "tag_review",
        "watch_for_calls",  # the demo is live
    }
    assert {"sipsim://lines", "sipsim://calls/live"} <= {r["uri"] for r in resources}


def test_inspector_calls_a_read_tool():
    result = inspector(
        "--method",
        "tools/call",
        "--tool-name",
        "summarize_calls",
        "--tool-arg",
        "since=last_week",
        "--tool-arg",
        "top_callers=3",
    )
    assert result["isError"] is False
    assert result["structuredContent"]["totals"]["calls"] > 0
    assert len(result["structuredContent"]["top_callers"]) == 3


def test_inspector_confirms_a_write_with_the_preview_code():
    """The Inspector CLI cannot elicit: the first call previews, the second (with the code) acts."""
    create = ("--method", "tools/call", "--tool-name", "create_tag", "--tool-arg", "name=Inspector")
    preview = inspector(*create, SIPSIM_CONFIRM_KEY=CONFIRM_KEY)["structuredContent"]
    assert preview["outcome"] == "preview"
    done = inspector(
        *create, "--tool-arg", f"confirmation_code={preview['confirmation_code']}", SIPSIM_CONFIRM_KEY=CONFIRM_KEY
    )["structuredContent"]
    assert done["outcome"] == "done" and done["result"]["name"] == "Inspector"


def test_claude_code_connects_over_http_with_its_bearer_token(tmp_path):
    """`claude mcp add --transport http` as README says, then `claude mcp list`, which connects to each
    server (README's Claude Code block is run as written in test_install.py)."""
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(
        HOME=str(home), DISABLE_AUTOUPDATER="1", DISABLE_TELEMETRY="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1"
    )
    claude = str(node_tool("claude"))
    http = Command(
        lambda port: [sys.executable, "-m", "sipsim_mcp", "--demo", "--transport", "http", "--port", str(port)],
        tmp_path / "server.log",
        "sipsim-mcp --transport http",
        cwd=ROOT,
        env={**env, "SIPSIM_MCP_AUTH_TOKEN": CONFIRM_KEY},
    )
    with http:
        url = f"http://127.0.0.1:{http.port}/mcp"
        for args in (
            ["--transport", "http", "sipsim-http", url, "--header", f"Authorization: Bearer {CONFIRM_KEY}"],
            ["--transport", "http", "sipsim-no-token", url],
        ):
            subprocess.run(
                [claude, "mcp", "add", *args], cwd=home, env=env, check=True, capture_output=True, timeout=60
            )
        listed = subprocess.run(
            [claude, "mcp", "list"], cwd=home, env=env, capture_output=True, text=True, timeout=180
        ).stdout
    status = {line.split(":")[0]: line for line in listed.splitlines() if line.startswith("sipsim")}
    assert "Connected" in status["sipsim-http"]
    assert "Connected" not in status["sipsim-no-token"]


def drive(framework: str, job: dict) -> dict:
    result = subprocess.run(
        [
            str(framework_python(framework)),
            str(ROOT / "tests" / "clients" / f"{framework.replace('-', '_')}_client.py"),
        ],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_openai_agents_sdk_lists_reads_and_confirms_a_write_by_preview(sandbox):
    seen = drive("openai-agents", {"server": server_launch(sandbox)})
    assert "list_calls" in seen["tools"] and seen["read_only"]["list_calls"] is True
    assert seen["read_only"]["create_tag"] is False
    assert {row["type"] for row in seen["list_calls"]["calls"]} == {"missed"}
    assert seen["preview"]["outcome"] == "preview" and seen["done"]["outcome"] == "done"
    [post] = writes(sandbox)
    assert post.body == {"name": "Agents SDK"}


def test_langchain_adapters_list_read_and_confirm_a_write_by_elicitation(sandbox):
    seen = drive("langchain", {"server": server_launch(sandbox)})
    assert "summarize_calls" in seen["tools"]
    assert seen["list_calls"]["returned"] == 3
    [asked] = seen["asked"]  # the form shows the question, then the exact request it confirms
    assert asked.startswith("Create the tag 'LangChain' (colour #123456)?\n") and "Request: POST /tags" in asked
    assert seen["done"]["outcome"] == "done"
    [post] = writes(sandbox)
    assert post.body == {"name": "LangChain", "color": "#123456"}


def test_pydantic_ai_lists_reads_and_confirms_a_write_by_elicitation(sandbox):
    call_id = sandbox.data.calls[-1]["id"]
    seen = drive("pydantic-ai", {"server": server_launch(sandbox), "call_id": str(call_id)})
    assert "tag_call" in seen["tools"]
    assert seen["list_calls"]["returned"] == 2
    # pydantic-ai 2.68 warns that its handler will never be called (on a 2026-07-28 session), then calls it:
    # the server asks through input_required round trips, which the mcp client answers with that handler
    # (README, "pydantic-ai's warning", whose snippet filters exactly this message)
    [warning] = seen["warnings"]
    assert warning.startswith("`elicitation_handler` will never be called")
    [asked] = seen["asked"]
    assert asked.startswith(f"Add the tag 'VIP' (id 1) to call {call_id}?\n")
    assert f"Request: POST /calls/{call_id}/tags" in asked
    assert seen["done"]["outcome"] == "done" and "VIP" in seen["done"]["result"]["call"]["tags"]
    [post] = writes(sandbox)
    assert post.path == f"/api/v2/calls/{call_id}/tags"


@pytest.mark.anyio
async def test_the_uvx_launch_of_the_desktop_recipe_serves_the_demo(tmp_path):
    """README's claude_desktop_config.json entry runs `uvx ... sipsim-mcp`; here from this checkout."""
    uvx = Path(sys.executable).with_name("uvx")
    if not uvx.exists():
        pytest.fail("uvx is missing: it comes with the test extra (pip install -e '.[test]')")
    params = StdioServerParameters(
        command=str(uvx), args=["--from", str(ROOT), "sipsim-mcp", "--demo"], env=server_env(), cwd=str(tmp_path)
    )
    async with Client(params, mode="legacy", read_timeout_seconds=300) as client:
        tools = (await client.list_tools()).tools
    assert len(tools) == 22
