"""The server as Claude Desktop runs it: `python -m sipsim_mcp` as a subprocess over stdio."""

from __future__ import annotations

import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from .external import ROOT, against, server_env
from .mcp_helpers import answering, data, writes

pytestmark = pytest.mark.anyio


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


async def test_missing_credentials_stop_the_server_with_a_message():
    with anyio.fail_after(60):
        result = await anyio.run_process([sys.executable, "-m", "sipsim_mcp"], cwd=ROOT, env=server_env(), check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 2
    assert "SIPSIM_CLIENT_ID" in stderr and "SIPSIM_CLIENT_SECRET" in stderr
    assert "--demo" in stderr
    assert result.stdout == b""
