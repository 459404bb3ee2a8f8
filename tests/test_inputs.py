"""Bad input never reaches SIPSIM and never floods the model: each bad argument gets a clear, short
error before any request (not even a token request), and a long bad value is echoed as an excerpt."""

from __future__ import annotations

import pytest

from .mcp_helpers import connect, error_text

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
