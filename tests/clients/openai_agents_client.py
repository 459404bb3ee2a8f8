"""Drives the server with the OpenAI Agents SDK's MCPServerStdio (runs in its own virtualenv).

Reads the server launch parameters as JSON on stdin; prints what it saw as JSON on stdout.
"""

import asyncio
import json
import sys

from agents.mcp import MCPServerStdio


async def main() -> None:
    job = json.load(sys.stdin)
    launch = job["server"]
    out = {}
    async with MCPServerStdio(
        name="sipsim", params=launch, cache_tools_list=True, client_session_timeout_seconds=60
    ) as server:
        tools = await server.list_tools()
        out["tools"] = sorted(tool.name for tool in tools)
        out["read_only"] = {tool.name: tool.annotations.read_only_hint for tool in tools}
        calls = await server.call_tool("list_calls", {"since": "last_week", "call_types": ["missed"], "limit": 5})
        out["list_calls"] = calls.structured_content
        # the Agents SDK declares no elicitation: the server answers with a preview and a code
        preview = await server.call_tool("create_tag", {"name": "Agents SDK"})
        out["preview"] = preview.structured_content
        code = preview.structured_content["confirmation_code"]
        done = await server.call_tool("create_tag", {"name": "Agents SDK", "confirmation_code": code})
        out["done"] = done.structured_content
    print(json.dumps(out))


asyncio.run(main())
