"""Drives the server with pydantic-ai's MCPToolset over fastmcp's StdioTransport (own virtualenv).

Reads the server launch parameters as JSON on stdin; prints what it saw as JSON on stdout.
"""

import asyncio
import json
import sys
import warnings

from fastmcp.client.transports import StdioTransport
from pydantic_ai.mcp import MCPToolset

asked = []


async def on_elicit(message, response_type, params, context):
    asked.append(message)
    return {"confirm": True}


async def main() -> None:
    job = json.load(sys.stdin)
    launch = job["server"]
    transport = StdioTransport(command=launch["command"], args=launch["args"], env=launch["env"], cwd=launch["cwd"])
    with warnings.catch_warnings(record=True) as warned:  # what pydantic-ai warns about, to compare with what it does
        warnings.simplefilter("always")
        async with MCPToolset(transport, elicitation_handler=on_elicit) as toolset:
            tools = await toolset.list_tools()
            out = {"tools": sorted(tool.name for tool in tools)}
            out["list_calls"] = await toolset.direct_call_tool("list_calls", {"since": "this_week", "limit": 2})
            out["done"] = await toolset.direct_call_tool("tag_call", {"call_id": job["call_id"], "tag": "VIP"})
    out["asked"] = asked
    out["warnings"] = [str(w.message) for w in warned]
    print(json.dumps(out, default=str))


asyncio.run(main())
