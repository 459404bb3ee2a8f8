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


def payload(result):
    """The JSON a tool returned (LangChain hands back content blocks)."""
    blocks = result if isinstance(result, list) else [result]
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) else str(block)
        if text:
            return json.loads(text)
    raise ValueError(f"no text content in {result!r}")


async def main() -> None:
    job = json.load(sys.stdin)
    launch = job["server"]
    client = MultiServerMCPClient(
        {"sipsim": {"transport": "stdio", **launch}}, callbacks=Callbacks(on_elicitation=on_elicitation)
    )
    tools = {tool.name: tool for tool in await client.get_tools()}
    out = {"tools": sorted(tools)}
    out["list_calls"] = payload(await tools["list_calls"].ainvoke({"since": "yesterday", "limit": 3}))
    out["done"] = payload(await tools["create_tag"].ainvoke({"name": "LangChain", "color": "#123456"}))
    out["asked"] = asked
    print(json.dumps(out))


asyncio.run(main())
