"""What `sipsim-mcp --demo` shows when a person runs it in a terminal: a short tour of the server,
driven through a real MCP client against the bundled simulator."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client

from ..api.config import Settings
from ..mcp.server import build_server

STEPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "How many calls did each line get last week, and how many were missed?",
        "summarize_calls",
        {"since": "last_week", "group_by": ["line"], "metrics": ["calls", "missed", "missed_rate"]},
    ),
    (
        "Show the last three missed calls of the past week.",
        "list_calls",
        {"since": "last_7_days", "call_types": ["missed"], "limit": 3},
    ),
    ("Call +33 6 12 34 56 78 from the Sales line.", "start_call", {"line": "Sales", "number": "+33 6 12 34 56 78"}),
]

CONNECT = """\
This terminal cannot speak MCP, so the tour ends here. Point an MCP client at the same command:
  Claude Code:   claude mcp add --scope user sipsim-demo -- "$(which sipsim-mcp)" --demo
  Inspector:     npx @modelcontextprotocol/inspector sipsim-mcp --demo
  Claude Desktop and the others: see README.md, "Connect a client".
With a real account: set SIPSIM_CLIENT_ID and SIPSIM_CLIENT_SECRET, then `sipsim-mcp doctor`."""


def _render(result: dict[str, Any], rows: int = 5) -> str:
    """A tool result for a terminal: the window in words, one line per row, the rest as compact JSON."""
    lines = []
    for key, value in result.items():
        if key == "window":
            lines.append(f"  window: {value['description']}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"  {key}:")
            lines += [f"    {json.dumps(row, ensure_ascii=False)}" for row in value[:rows]]
            if len(value) > rows:
                lines.append(f"    ... and {len(value) - rows} more")
        elif value not in ({}, []):
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)


async def tour(settings: Settings, write: Any) -> None:
    """Print the tour with `write` (a print-like function)."""
    server = build_server(settings)
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        writes = [t.name for t in tools if t.annotations and not t.annotations.read_only_hint]
        write(
            "sipsim-mcp --demo: the bundled SIPSIM simulator, no account used. Its seeded calls end at midnight "
            f"(Paris time) today, so they stay the same all day. {len(tools)} tools."
        )
        write(f"Read tools: {', '.join(t.name for t in tools if t.name not in writes)}")
        write(f"Write tools (each one confirmed by the user): {', '.join(writes)}\n")
        for question, name, arguments in STEPS:
            write(f'"{question}"\n-> {name} {json.dumps(arguments, ensure_ascii=False)}')
            result = await client.call_tool(name, arguments)
            write(_render(result.structured_content) + "\n")
    write(CONNECT)
