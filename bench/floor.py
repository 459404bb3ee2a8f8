"""The floor for bench/run.py: the thinnest MCPServer on this SDK.

    python bench/floor.py bare    # one trivial tool, no HTTP: the cold-start floor
    python bench/floor.py call    # list_calls as one plain GET /calls (the same request sipsim-mcp sends)
    python bench/floor.py call --http PORT   # the same over stateless streamable HTTP (bench/throughput.py)

Configured by the same SIPSIM_API_URL / SIPSIM_TOKEN_URL / SIPSIM_CLIENT_ID / SIPSIM_CLIENT_SECRET.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mcp.server import MCPServer

server = MCPServer("floor")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if sys.argv[1:2] == ["call"]:
    import httpx

    http: httpx.AsyncClient | None = None

    @server.tool()
    async def list_calls(start_time: str, end_time: str, limit: int = 20) -> dict[str, Any]:
        """One page of calls, as SIPSIM returns it."""
        global http
        if http is None:
            http = httpx.AsyncClient()
            grant = {
                "grant_type": "client_credentials",
                "client_id": os.environ["SIPSIM_CLIENT_ID"],
                "client_secret": os.environ["SIPSIM_CLIENT_SECRET"],
                "scope": "calls.read",
            }
            token = (await http.post(os.environ["SIPSIM_TOKEN_URL"], data=grant)).json()["access_token"]
            await http.aclose()
            http = httpx.AsyncClient(
                base_url=os.environ["SIPSIM_API_URL"], headers={"Authorization": f"Bearer {token}"}
            )
        response = await http.get("/calls", params={"start_time": start_time, "end_time": end_time, "limit": limit})
        return response.json()


if __name__ == "__main__":
    if sys.argv[2:3] == ["--http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]), stateless_http=True)
    else:
        server.run()
