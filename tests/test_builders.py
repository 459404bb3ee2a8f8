"""How each write tool builds its request, one handler at a time: the method, path and body SIPSIM will get and
the sentence the user confirms, for the arguments a user gives. Building a request sends nothing; the
handlers read the lines and tags they name from the simulator, called in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.language.directory import Directory
from sipsim_mcp.sandbox import Sandbox
from sipsim_mcp.tools.base import Runtime, ToolContext, WritePlan
from sipsim_mcp.tools.inventory import TOOLS_BY_NAME

from .conftest import NOW, settings_for
from .mcp_helpers import IN_PROCESS, writes

pytestmark = pytest.mark.anyio

SALES, SUPPORT, RECEPTION, BILLING, NIGHT = 101, 103, 104, 105, 106

#: (tool, arguments) -> (method, path, body, phrases of the sentence the user confirms)
REQUESTS: list[tuple[str, dict[str, Any], tuple[str, str, dict[str, Any] | None], list[str]]] = [
    (
        "update_phone",
        {"line": "Sales", "record_inbound": False, "voicemail": False},
        (
            "PATCH",
            f"/phones/{SALES}",
            {"record_setting": {"record_inbound_call": False}, "voicemail_setting": {"allow_voicemail": False}},
        ),
        ["On line 'Sales'", "record incoming calls: off (now: on)", "voicemail: off (now: on)"],
    ),
    (
        "update_phone",  # a national number is read in the default region; only the rule given is sent
        {"line": "sales", "forward_unanswered_to": "06 98 76 54 32", "forward_unanswered_after_s": 30},
        (
            "PATCH",
            f"/phones/{SALES}",
            {
                "forwarding_setting": {
                    "conditional": {"enabled": True, "forward_number": "+33698765432", "timeout_seconds": 30}
                }
            },
        ),
        ["forward unanswered calls to +33 6 98 76 54 32 (now: off)", "after 30 s (now: 20 s)"],
    ),
    (
        "update_phone",  # 'off' turns a rule off and sends no number
        {"line": "Night Line", "forward_all_to": "off"},
        ("PATCH", f"/phones/{NIGHT}", {"forwarding_setting": {"forced": {"enabled": False}}}),
        ["stop forwarding all calls (now: "],
    ),
    (
        "update_phone",
        {"line": "Reception", "caller_id": "+33 1 84 88 04 04"},
        (
            "PATCH",
            f"/phones/{RECEPTION}",
            {"outbound_setting": {"use_different_outbound_number": True, "outbound_number": "+33184880404"}},
        ),
        ["show +33 1 84 88 04 04 on outgoing calls (now: the line's own number)"],
    ),
    (
        "update_phone",
        {"line": "Billing", "caller_id": "off"},
        ("PATCH", f"/phones/{BILLING}", {"outbound_setting": {"use_different_outbound_number": False}}),
        ["show the line's own number on outgoing calls (now: +33184880303)"],
    ),
    (
        "create_tag",  # the name is trimmed, the colour upper-cased
        {"name": "  Escalated ", "color": "#a1b2c3", "description": "Needs a manager"},
        ("POST", "/tags", {"name": "Escalated", "color": "#A1B2C3", "description": "Needs a manager"}),
        ["Create the tag 'Escalated' (colour #A1B2C3)"],
    ),
    (
        "create_tag",  # no colour: none is sent, and the user is told SIPSIM's default
        {"name": "Plain"},
        ("POST", "/tags", {"name": "Plain"}),
        ["Create the tag 'Plain' (colour #6B7280)"],
    ),
    (
        "update_tag",  # only what changes is sent
        {"tag": "VIP", "color": "#00ff00"},
        ("PATCH", "/tags/1", {"color": "#00FF00"}),
        ["Change the tag 'VIP'", "colour #8B5CF6 -> #00FF00"],
    ),
    (
        "delete_tag",
        {"tag": "Follow-up"},
        ("DELETE", "/tags/3", None),
        ["Delete the tag 'Follow-up'", "cannot be undone"],
    ),
    (
        "start_call",
        {"line": "Support", "number": "06 12 34 56 78"},
        ("POST", "/calls", {"phone_id": SUPPORT, "number": "+33612345678"}),
        ["Ring +33 6 12 34 56 78 from line 'Support'", "The line's phone rings first"],
    ),
    (
        "tag_call",  # a tag by name is sent by id
        {"call_id": 100042, "tag": "vip"},
        ("POST", "/calls/100042/tags", {"tag_id": 1}),
        ["Add the tag 'VIP' (id 1) to call 100042"],
    ),
    (
        "untag_call",
        {"call_id": 100042, "tag": "2"},
        ("DELETE", "/calls/100042/tags/2", None),
        ["Remove the tag 'Important' (id 2) from call 100042"],
    ),
    (
        "enable_webhook",
        {"event": "outgoing_call_end"},
        ("POST", "/webhooks/outgoing_call_end", None),
        ["Start sending 'outgoing_call_end' webhook events"],
    ),
]


@asynccontextmanager
async def context(sandbox: Sandbox) -> AsyncIterator[ToolContext]:
    settings = settings_for(IN_PROCESS)
    async with SipsimClient(settings, transport=httpx.ASGITransport(app=sandbox.app)) as api:
        directory = Directory(api, now=lambda: NOW)
        yield ToolContext(Runtime(settings=settings, api=api, directory=directory, now=lambda: NOW))


async def plan(sandbox: Sandbox, tool: str, arguments: dict[str, Any]) -> tuple[tuple[str, str, Any], WritePlan]:
    """The request `tool` would send for `arguments`, and its plan."""
    spec = TOOLS_BY_NAME[tool]
    async with context(sandbox) as ctx:
        built = await spec.handler(ctx, spec.input.model_validate(arguments))
    assert isinstance(built, WritePlan)
    return (spec.endpoint.method, spec.endpoint.render(**built.path_params), built.body), built


@pytest.mark.parametrize(
    ("tool", "arguments", "request_", "phrases"), REQUESTS, ids=[f"{r[0]}-{i}" for i, r in enumerate(REQUESTS)]
)
async def test_each_write_builds_the_request_the_user_confirms(shared_sandbox, tool, arguments, request_, phrases):
    sent, built = await plan(shared_sandbox, tool, arguments)
    assert sent == request_
    assert all(phrase in built.question for phrase in phrases), built.question
    assert writes(shared_sandbox) == []


async def test_start_call_dedupes_on_the_line_and_the_number_however_it_is_written(shared_sandbox):
    _, first = await plan(shared_sandbox, "start_call", {"line": "Support", "number": "06 12 34 56 78"})
    _, second = await plan(shared_sandbox, "start_call", {"line": str(SUPPORT), "number": "+33612345678"})
    _, other = await plan(shared_sandbox, "start_call", {"line": "Sales", "number": "+33612345678"})
    assert first.dedupe_key == second.dedupe_key != other.dedupe_key


def test_every_write_tool_has_a_request_here():
    assert {tool for tool, *_ in REQUESTS} | {"disable_webhook", "request_transcription", "request_summary"} == {
        name for name, spec in TOOLS_BY_NAME.items() if spec.write
    }
