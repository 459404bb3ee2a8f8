"""Writes wait for the user: elicitation (both protocol eras), the preview + confirmation code flow,
host mode, the click-to-call duplicate guard and the audit log."""

from __future__ import annotations

import json
import time

import pytest

from .mcp_helpers import MODES, answering, connect, data, error_text, writes

pytestmark = pytest.mark.anyio

RING = {"line": "Sales", "number": "+33 6 12 34 56 78"}


def click_to_calls(sandbox):
    return writes(sandbox, "POST", "/api/v2/calls")


# --- elicitation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_user_sees_exactly_what_will_happen_and_accepts(sandbox, mode):
    seen: list[str] = []
    async with connect(sandbox, mode=mode, elicitation=answering("accept", {"confirm": True}, seen)) as (client, _):
        result = data(await client.call_tool("start_call", RING))
    assert seen[0].startswith("Ring +33 6 12 34 56 78 from line 'Sales' (id ")
    assert "?" in seen[0]
    assert result["outcome"] == "done"
    assert result["result"]["call"]["status"] == "initiated"
    [post] = click_to_calls(sandbox)
    assert post.body == {
        "phone_id": next(p["id"] for p in sandbox.data.phones if p["name"] == "Sales"),
        "number": "+33612345678",
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "content", "outcome"),
    [
        ("decline", None, "declined"),
        ("cancel", None, "cancelled"),
        ("accept", {"confirm": False}, "declined"),
    ],
)
async def test_decline_cancel_or_an_unticked_box_does_nothing(sandbox, mode, action, content, outcome):
    async with connect(sandbox, mode=mode, elicitation=answering(action, content)) as (client, _):
        result = data(await client.call_tool("delete_tag", {"tag": "VIP"}))
    assert result["outcome"] == outcome
    assert "nothing was done" in result["message"]
    assert writes(sandbox) == []
    assert "VIP" in {t["name"] for t in sandbox.data.tags}


@pytest.mark.parametrize("mode", MODES)
async def test_a_code_does_not_bypass_elicitation(sandbox, mode):
    async with connect(sandbox, mode=mode, elicitation=answering("decline")) as (client, _):
        result = data(await client.call_tool("create_tag", {"name": "Bypass", "confirmation_code": "1-AAAA-BBBB"}))
    assert result["outcome"] == "declined"
    assert writes(sandbox) == []


# --- preview + confirmation code (clients that cannot ask) ------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_preview_then_confirm_with_the_code(sandbox, mode):
    async with connect(sandbox, mode=mode) as (client, _):
        preview = data(await client.call_tool("start_call", RING))
        assert click_to_calls(sandbox) == []
        assert preview["outcome"] == "preview"
        assert preview["request"]["method"] == "POST" and preview["request"]["path"] == "/calls"
        assert preview["request"]["body"]["number"] == "+33612345678"
        assert "Show this to the user" in preview["message"]
        assert "Ring +33 6 12 34 56 78 from line 'Sales'" in preview["message"]
        done = data(await client.call_tool("start_call", {**RING, "confirmation_code": preview["confirmation_code"]}))
    assert done["outcome"] == "done"
    assert len(click_to_calls(sandbox)) == 1


async def test_a_wrong_code_is_refused(sandbox):
    async with connect(sandbox) as (client, _):
        await client.call_tool("create_tag", {"name": "Guarded"})
        for bad in ("123-ABCDEFGH-ABCDEFGHIJKLMNOP", "not a code", "9999999999-AAAAAAAA-AAAAAAAAAAAAAAAA"):
            text = error_text(await client.call_tool("create_tag", {"name": "Guarded", "confirmation_code": bad}))
            assert "Nothing was done" in text
    assert writes(sandbox) == []


async def test_a_code_for_other_arguments_is_refused(sandbox):
    async with connect(sandbox) as (client, _):
        preview = data(await client.call_tool("create_tag", {"name": "Guarded"}))
        text = error_text(
            await client.call_tool(
                "create_tag", {"name": "Something else", "confirmation_code": preview["confirmation_code"]}
            )
        )
        other_tool = error_text(
            await client.call_tool("delete_tag", {"tag": "VIP", "confirmation_code": preview["confirmation_code"]})
        )
    assert "does not match these arguments" in text
    assert "does not match" in other_tool
    assert writes(sandbox) == []


async def test_an_expired_code_is_refused(sandbox):
    async with connect(sandbox) as (client, server):
        preview = data(await client.call_tool("create_tag", {"name": "Later"}))
        server.gate.codes.clock = lambda: time.time() + 301
        text = error_text(
            await client.call_tool("create_tag", {"name": "Later", "confirmation_code": preview["confirmation_code"]})
        )
    assert "expired" in text
    assert writes(sandbox) == []


async def test_a_code_works_once(sandbox):
    async with connect(sandbox) as (client, _):
        preview = data(await client.call_tool("tag_call", {"call_id": sandbox.data.calls[-1]["id"], "tag": "Lead"}))
        arguments = {
            "call_id": sandbox.data.calls[-1]["id"],
            "tag": "Lead",
            "confirmation_code": preview["confirmation_code"],
        }
        assert data(await client.call_tool("tag_call", arguments))["outcome"] == "done"
        text = error_text(await client.call_tool("tag_call", arguments))
    assert "already been used" in text
    assert len(writes(sandbox)) == 1


async def test_host_mode_acts_on_the_first_call(sandbox):
    async with connect(sandbox, confirm_writes="host") as (client, _):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        result = data(await client.call_tool("create_tag", {"name": "Trusted"}))
    assert "confirmation_code" not in tools["create_tag"].input_schema["properties"]
    assert result["outcome"] == "done" and result["result"]["name"] == "Trusted"
    assert len(writes(sandbox)) == 1


# --- no double rings ---------------------------------------------------------------------------------


async def test_an_identical_start_call_within_a_minute_is_not_sent_again(sandbox):
    async with connect(sandbox, confirm_writes="host") as (client, _):
        first = data(await client.call_tool("start_call", RING))
        again = data(await client.call_tool("start_call", {"line": "sales", "number": "06 12 34 56 78"}))
        other = data(await client.call_tool("start_call", {"line": "Support", "number": "+33612345678"}))
    assert again["outcome"] == "duplicate"
    assert again["result"] == first["result"]
    assert other["outcome"] == "done"
    assert len(click_to_calls(sandbox)) == 2


async def test_a_duplicate_is_not_asked_again(sandbox):
    seen: list[str] = []
    async with connect(sandbox, elicitation=answering("accept", {"confirm": True}, seen)) as (client, _):
        await client.call_tool("start_call", RING)
        again = data(await client.call_tool("start_call", RING))
    assert again["outcome"] == "duplicate"
    assert len(seen) == 1
    assert len(click_to_calls(sandbox)) == 1


# --- audit log -----------------------------------------------------------------------------------


async def test_every_write_attempt_is_audited(sandbox, tmp_path):
    log = tmp_path / "audit.jsonl"
    async with connect(sandbox, audit_log=str(log)) as (client, _):
        preview = data(await client.call_tool("create_tag", {"name": "Audited"}))
        await client.call_tool("create_tag", {"name": "Audited", "confirmation_code": "0-AAAAAAAA-AAAAAAAAAAAAAAAA"})
        await client.call_tool("create_tag", {"name": "Audited", "confirmation_code": preview["confirmation_code"]})
        duplicate = data(await client.call_tool("create_tag", {"name": "audited"}))
        await client.call_tool("create_tag", {"name": "audited", "confirmation_code": duplicate["confirmation_code"]})
    async with connect(sandbox, audit_log=str(log), elicitation=answering("decline")) as (client, _):
        await client.call_tool("delete_tag", {"tag": "Audited"})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    outcomes = ["preview", "refused", "sending", "done", "preview", "sending", "failed", "declined"]
    assert [line["outcome"] for line in lines] == outcomes
    assert all(line["tool"] in ("create_tag", "delete_tag") for line in lines)
    assert lines[0]["arguments"] == {"name": "Audited", "color": None, "description": None}
    assert lines[2]["attempt"] == lines[3]["attempt"] != lines[5]["attempt"] == lines[6]["attempt"]
    assert lines[3]["request_id"] and lines[6]["request_id"]
    assert "409" in lines[6]["detail"]
    assert all(line["time"].endswith("Z") for line in lines)


async def test_a_shared_confirm_key_lets_another_process_redeem_the_code(sandbox):
    async with connect(sandbox, confirm_key="k" * 32) as (client, _):
        preview = data(await client.call_tool("create_tag", {"name": "Replica"}))
    async with connect(sandbox, confirm_key="k" * 32) as (client, _):  # a second server, as after a restart
        done = data(
            await client.call_tool("create_tag", {"name": "Replica", "confirmation_code": preview["confirmation_code"]})
        )
    async with connect(sandbox) as (client, _):  # without the shared key the code means nothing elsewhere
        text = error_text(
            await client.call_tool(
                "create_tag", {"name": "Replica 2", "confirmation_code": preview["confirmation_code"]}
            )
        )
    assert done["outcome"] == "done"
    assert "does not match" in text
    assert len(writes(sandbox)) == 1


async def test_an_update_phone_preview_lists_each_change_with_its_current_value(sandbox):
    support = next(p for p in sandbox.data.phones if p["name"] == "Support")
    arguments = {"line": "support", "record_inbound": False, "forward_all_to": "+33 6 98 76 54 32", "caller_id": "off"}
    async with connect(sandbox) as (client, _):
        preview = data(await client.call_tool("update_phone", arguments))
    assert writes(sandbox) == []
    assert preview["request"] == {
        "method": "PATCH",
        "path": f"/phones/{support['id']}",
        "body": {
            "record_setting": {"record_inbound_call": False},
            "forwarding_setting": {"forced": {"enabled": True, "forward_number": "+33698765432"}},
            "outbound_setting": {"use_different_outbound_number": False},
        },
    }
    was = "on" if support["record_setting"]["record_inbound_call"] else "off"
    assert f"record incoming calls: off (now: {was})" in preview["message"]
    assert "forward ALL calls to +33 6 98 76 54 32 (now: " in preview["message"]
    assert "show the line's own number on outgoing calls" in preview["message"]
