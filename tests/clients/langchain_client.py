"""Drives the server with langchain-mcp-adapters (runs in its own virtualenv: it pins mcp<2).

Reads the server launch parameters as JSON on stdin; prints what it saw as JSON on stdout.
"""

import asyncio
import json
import sys

from langchain_mcp_adapters.callbacks import Callbacks
from langchain_mcp_adapters.client import MultiServerMCPClient
from mcp.types import ElicitResult

asked = []


async def on_elicitation(mcp_context, params, context):
    asked.append(params.message)
    return ElicitResult(action="accept", content={"confirm": True})


async def payload(tool, arguments):
    """The structured content of a call (LangChain's artifact); the model's text must come with it."""
    message = await tool.ainvoke({"type": "tool_call", "id": "1", "name": tool.name, "args": arguments})
    assert message.content, "no text for the model"
    return message.artifact["structured_content"]


async def main() -> None:
    job = json.load(sys.stdin)
    launch = job["server"]
    client = MultiServerMCPClient(
        {"sipsim": {"transport": "stdio", **launch}}, callbacks=Callbacks(on_elicitation=on_elicitation)
    )
    tools = {tool.name: tool for tool in await client.get_tools()}
    out = {"tools": sorted(tools)}
    out["list_calls"] = await payload(tools["list_calls"], {"since": "yesterday", "limit": 3})
    out["done"] = await payload(tools["create_tag"], {"name": "LangChain", "color": "#123456"})
    out["asked"] = asked
    print(json.dumps(out))


asyncio.run(main())
