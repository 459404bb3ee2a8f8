"""Bad input never reaches SIPSIM and never floods the model: each bad argument gets a clear, short
error before any request (not even a token request), and a long bad value is echoed as an excerpt."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mcp import Client
from mcp.server import Server
from mcp.types import ListToolsResult
from pydantic import BaseModel, field_validator

from sipsim_mcp.api import endpoints as ep
from sipsim_mcp.api.client import ApiResponse
from sipsim_mcp.api.shaping import Compact
from sipsim_mcp.language.directory import Directory
from sipsim_mcp.mcp.confirm import AuditLog, ConfirmationCodes
from sipsim_mcp.mcp.gate import WriteGate
from sipsim_mcp.mcp.register import ToolRuntime, build_tools
from sipsim_mcp.mcp.server import output_schemas
from sipsim_mcp.state.memory import MemoryStore
from sipsim_mcp.tools.base import Runtime, ToolContext, ToolSpec, WritePlan, tool
from sipsim_mcp.tools.fields import ToolInput

from .conftest import NOW
from .mcp_helpers import connect, data, error_text

pytestmark = pytest.mark.anyio

HUGE = "x" * 100_000

BAD = [
    ("get_call", {"call_id": "100001", "timezone": "Mars/Olympus"}, "Unknown time zone"),
    ("list_calls", {"timezone": "Mars/Olympus"}, "Unknown time zone"),
    ("summarize_calls", {"since": "yesterday", "timezone": "Europe/Pariss"}, "Did you mean Europe/Paris"),
    ("create_tag", {"name": "   "}, "name"),
    ("update_tag", {"tag": "VIP", "name": " \t "}, "name"),
    ("start_call", {"line": "   ", "number": "+33612345678"}, "line"),
    ("start_call", {"line": "Sales", "number": "1" * 39}, "not a valid phone number"),
    ("tag_call", {"call_id": "100001", "tag": "  "}, "tag"),
    ("enable_webhook", {"event": "nope_event"}, "unknown webhook event; the events are: incoming_call_start"),
    ("disable_webhook", {"event": "calls"}, "list_webhook_events"),
    ("list_calls", {"since": "last_" + "9" * 5000 + "_days"}, "at most 100 characters"),
    ("list_calls", {"since": "last_" + "9" * 90 + "_days"}, "out of range"),
    ("summarize_calls", {"since": "p" + "9" * 95 + "w"}, "out of range"),
    ("list_calls", {"since": "2026-11-01", "until": "9" * 99 + "h"}, "out of range"),
    ("list_calls", {"page": "AAAA" * 100}, "page token is not one this server gave out"),
    ("list_calls", {"page": "eyJ4IjoxfQ"}, "page token is not one this server gave out"),
    ("list_calls", {"since": HUGE}, "at most 100 characters"),
    ("create_tag", {"name": HUGE}, "at most 50 characters"),
    ("get_call", {"call_id": HUGE}, "call_id"),
]


@pytest.mark.parametrize(("tool", "arguments", "says"), BAD, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BAD)])
async def test_bad_input_gets_a_short_clear_error_before_any_request(sandbox, tool, arguments, says):
    async with connect(sandbox) as (client, _):
        text = error_text(await client.call_tool(tool, arguments))
    assert sandbox.requests == []  # not even a token was asked for
    assert says in text
    assert len(text) < 1200
    assert text.rstrip(".") != f"Error executing tool {tool}"
    longest_run = max(len(run) for run in text.replace("9", "x").split(" "))
    assert longest_run < 120  # a bad value is echoed as a short excerpt, never whole


# --- validated once, by the tool's input model --------------------------------------------------------


def _counting_tool(write: bool) -> tuple[ToolSpec, list[str]]:
    """A tool whose input model counts how often it is validated."""
    seen: list[str] = []

    class Counted(ToolInput):
        word: str

        @field_validator("word")
        @classmethod
        def _count(cls, value: str) -> str:
            seen.append(value)
            return value

    class Echo(Compact):
        word: str

    async def echo(ctx: ToolContext, args: Counted) -> BaseModel:
        """Echo a word."""
        if write:
            return WritePlan(summary=f"Say {args.word}", body={"word": args.word}, finish=lambda r: Echo(word="ok"))
        return Echo(word=args.word)

    options = {"write": True, "destructive": False, "idempotent": True} if write else {}
    declared = tool(name="echo", title="Echo", endpoint=ep.CREATE_TAG, input=Counted, output=Echo, **options)(echo)
    return declared, seen


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
async def test_arguments_are_validated_once_by_the_input_model(write):
    spec, seen = _counting_tool(write)

    async def request(*args, **kwargs) -> ApiResponse:
        return ApiResponse(status=201, request_id="r1", data={})

    api = SimpleNamespace(request=request)
    directory = Directory(api)  # type: ignore[arg-type]  # never asked: the tool resolves no name
    runtime = Runtime(settings=None, api=api, directory=directory, now=lambda: NOW)  # type: ignore[arg-type]
    gate = WriteGate(store=MemoryStore(), codes=ConfirmationCodes(lambda: b"k" * 32), audit=AuditLog(None), mode="host")
    tools = ToolRuntime(
        tools={spec.name: spec},
        listed=ListToolsResult(tools=build_tools([spec], False, output_schemas([spec]))),
        runtime=runtime,
        gate=gate,
        unavailable={},
    )
    server = Server("counted", on_list_tools=tools.list_tools, on_call_tool=tools.call_tool)
    async with Client(server) as client:
        answer = data(await client.call_tool("echo", {"word": "hello"}))
        assert seen == ["hello"]  # once per call, whatever resolvers a write has
        refused = error_text(await client.call_tool("echo", {"word": "hello", "wrod": "typo"}))
    assert (answer.get("result") or answer)["word"] == ("ok" if write else "hello")
    assert refused.startswith("Unknown argument(s) for echo: wrod.")  # the input model refused it, worded for a
    # model (test_unknown_arguments_are_named_with_what_is_accepted)


async def test_unknown_arguments_are_named_with_what_is_accepted(sandbox):
    async with connect(sandbox) as (client, _):
        text = error_text(await client.call_tool("create_tag", {"name": "X", "colour": "#FFFFFF"}))
    assert text == (
        "Unknown argument(s) for create_tag: colour. It accepts: color, confirmation_code, description, name. "
        "Nothing was done."
    )
    assert sandbox.requests == []


async def test_a_list_sent_as_json_text_is_read_as_the_list(sandbox):
    async with connect(sandbox) as (client, _):
        as_text = data(await client.call_tool("summarize_calls", {"since": "this_month", "group_by": '["line"]'}))
        as_list = data(await client.call_tool("summarize_calls", {"since": "this_month", "group_by": ["line"]}))
    assert as_text == as_list
