"""The server as Claude Desktop runs it: `python -m sipsim_mcp` as a subprocess over stdio."""

from __future__ import annotations

import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from .external import ROOT, against, server_env
from .mcp_helpers import answering, data, error_text, writes

pytestmark = [pytest.mark.anyio, pytest.mark.clock]


def server_params(sandbox, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "sipsim_mcp"],
        cwd=str(ROOT),
        env=against(sandbox, SIPSIM_TIMEZONE="Europe/Paris", SIPSIM_LOG_LEVEL="DEBUG", **env),
    )


async def test_stdio_server_lists_reads_and_writes_with_confirmation(sandbox, tmp_path):
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        transport = stdio_client(server_params(sandbox), errlog=errlog)
        seen: list[str] = []
        async with Client(
            transport, mode="legacy", elicitation_callback=answering("accept", {"confirm": True}, seen)
        ) as c:
            assert c.server_info.name == "sipsim"
            names = {tool.name for tool in (await c.list_tools()).tools}
            calls = data(await c.call_tool("list_calls", {"since": "last_30_days", "call_types": ["missed"]}))
            ring = data(await c.call_tool("start_call", {"line": "Reception", "number": "+33 6 11 22 33 44"}))
    # default SIPSIM_SCOPES: the seven scopes of the auth page
    assert "start_call" in names and "get_transcription" not in names
    assert calls["calls"] and {row["type"] for row in calls["calls"]} == {"missed"}
    assert seen and seen[0].startswith("Ring +33 6 11 22 33 44 from line 'Reception'")
    assert ring["outcome"] == "done"
    assert len(writes(sandbox, "POST", "/api/v2/calls")) == 1
    log = stderr.read_text()
    assert "demo-secret" not in log
    assert all(token not in log for token in sandbox.issued_tokens())


async def test_stdio_server_in_the_2026_era_previews_writes_without_elicitation(sandbox):
    async with Client(server_params(sandbox)) as c:
        assert c.protocol_version == "2026-07-28"
        preview = data(await c.call_tool("create_tag", {"name": "From stdio"}))
        assert writes(sandbox) == []
        done = data(
            await c.call_tool("create_tag", {"name": "From stdio", "confirmation_code": preview["confirmation_code"]})
        )
    assert done["outcome"] == "done"
    assert "From stdio" in {tag["name"] for tag in sandbox.data.tags}


async def test_a_server_process_reads_yesterday_on_the_clock_of_its_simulator(shared_sandbox):
    """The suite's data ends on 28 Nov 2026 whatever day it runs: the process's clock starts there (SIPSIM_NOW),
    so "yesterday" is 27 Nov, as it is for the tests' in-process servers."""
    async with Client(server_params(shared_sandbox)) as c:
        page = data(await c.call_tool("list_calls", {"since": "yesterday", "limit": 1}))
    assert page["window"]["since_local"].startswith("2026-11-27T00:00")
    assert page["returned"] == 1


@pytest.mark.parametrize(
    ("env", "fix"),
    [
        ({}, ["SIPSIM_CLIENT_ID and SIPSIM_CLIENT_SECRET", "SIPSIM dashboard", "--demo", "SIPSIM_DEMO=true"]),
        (
            {"SIPSIM_CLIENT_ID": "id", "SIPSIM_CLIENT_SECRET": "secret", "SIPSIM_TIMEZONE": "Paris"},
            ["SIPSIM_TIMEZONE 'Paris' is not an IANA time zone"],
        ),
        (
            {"SIPSIM_CLIENT_ID": "id", "SIPSIM_CLIENT_SECRET": "secret", "SIPSIM_NOW": "2026-11-28T09:00:00Z"},
            ["SIPSIM_NOW is set, but SIPSIM_API_URL (https://app.sipsim.com/api/v2) is not a simulator"],
        ),
    ],
    ids=["no-credentials", "invalid-setting", "clock-against-the-real-api"],
)
async def test_a_server_that_is_not_set_up_still_connects_and_every_tool_answers_the_fix(tmp_path, env, fix):
    """Hosts show tool results, not stderr: the handshake completes, tools are listed, each call says
    what to set and where; the same text is logged once."""
    stderr = tmp_path / "stderr.log"
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "sipsim_mcp"], cwd=str(ROOT), env=server_env(**env)
    )
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            assert "NOT SET UP" in client.instructions
            tools = {tool.name for tool in (await client.list_tools()).tools}
            answers = [
                error_text(await client.call_tool("summarize_calls", {"since": "last_week"})),
                error_text(await client.call_tool("start_call", {"line": "Sales", "number": "+33612345678"})),
                error_text(await client.call_tool("list_calls", {"not_an_argument": 1})),
            ]
    assert "list_calls" in tools and "get_account" in tools
    assert answers[0] == answers[1] == answers[2]
    assert all(part in answers[0] for part in fix), answers[0]
    assert "MCP client's configuration" in answers[0]
    assert stderr.read_text().count(answers[0]) == 1


async def test_the_http_transport_without_credentials_refuses_to_start():
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, "-m", "sipsim_mcp", "--transport", "http", "--port", "0"],
            cwd=ROOT,
            env=server_env(),
            check=False,
        )
    assert result.returncode == 2
    assert "SIPSIM_CLIENT_ID" in result.stderr.decode() and result.stdout == b""
