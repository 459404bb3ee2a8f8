"""Several server processes sharing one Redis (`SIPSIM_STATE_URL`): codes single-use across processes
and restarts, one ring for 20 concurrent identical start_calls spread over two processes, writes
refused (and reads answered) while Redis is down, and stateless HTTP replicas behind a round-robin
load balancer completing a 2026-07-28 confirmation form and a legacy preview code exactly once."""

from __future__ import annotations

import anyio
import pytest

from sipsim_mcp.app.doctor import diagnose

from .conftest import settings_for
from .mcp_helpers import answering, data, error_text, writes
from .replicas import balanced, free_port, replicas, to

pytestmark = [pytest.mark.anyio, pytest.mark.clock]

RING = {"line": "Sales", "number": "+33 6 12 34 56 78"}
KEY = "replica-key-" + "k" * 40


def rings(sandbox):
    return [r for r in writes(sandbox, "POST") if r.path == "/api/v2/calls"]


def new_tags(sandbox):
    return [r for r in writes(sandbox, "POST") if r.path == "/api/v2/tags"]


async def test_a_code_is_single_use_across_processes_and_restarts(sandbox, redis, tmp_path):
    # no SIPSIM_CONFIRM_KEY: the secret that signs codes is kept in Redis too
    with replicas(sandbox, tmp_path, SIPSIM_STATE_URL=redis.url) as (a, b):
        async with to(a) as client:
            preview = data(await client.call_tool("create_tag", {"name": "Replicated"}))
        confirmed = {"name": "Replicated", "confirmation_code": preview["confirmation_code"]}
        async with to(b) as client:
            done = data(await client.call_tool("create_tag", confirmed))
        async with to(a) as client:
            on_a = error_text(await client.call_tool("create_tag", confirmed))
        a.stop()
        a.start()
        async with to(a) as client:
            after_restart = error_text(await client.call_tool("create_tag", confirmed))
    assert done["outcome"] == "done"
    assert "already been used" in on_a and "already been used" in after_restart
    assert len(new_tags(sandbox)) == 1


@pytest.mark.parametrize("confirm", ["preview", "host"])
async def test_twenty_concurrent_start_calls_over_two_processes_ring_once(sandbox, redis, tmp_path, confirm):
    with replicas(sandbox, tmp_path, SIPSIM_STATE_URL=redis.url, SIPSIM_CONFIRM_WRITES=confirm) as servers:
        async with to(servers[0]) as first, to(servers[1]) as second:
            clients = [first, second]
            codes: list[str | None] = [None] * 20
            if confirm == "preview":  # each code from one process, redeemed on the other
                for i in range(20):
                    codes[i] = data(await clients[i % 2].call_tool("start_call", RING))["confirmation_code"]
            results = []

            async def ring(i: int) -> None:
                code = {"confirmation_code": codes[i]} if codes[i] else {}
                results.append(await clients[(i + 1) % 2].call_tool("start_call", {**RING, **code}))

            async with anyio.create_task_group() as group:
                for i in range(20):
                    group.start_soon(ring, i)
    assert sorted(data(result)["outcome"] for result in results) == ["done"] + ["duplicate"] * 19
    assert len(rings(sandbox)) == 1


async def test_with_redis_down_writes_are_refused_and_reads_answered(sandbox, redis, tmp_path):
    with replicas(sandbox, tmp_path, count=1, SIPSIM_STATE_URL=redis.url, SIPSIM_CONFIRM_WRITES="host") as [server]:
        async with to(server) as client:
            first = data(await client.call_tool("start_call", RING))
            redis.stop()
            ring_again = error_text(await client.call_tool("start_call", RING))
            create = error_text(await client.call_tool("create_tag", {"name": "While Redis is down"}))
            tags = data(await client.call_tool("list_tags", {}))
            calls = data(await client.call_tool("list_calls", {"since": "yesterday", "limit": 3}))
            redis.start()
            after = data(await client.call_tool("create_tag", {"name": "After Redis is back"}))
    assert first["outcome"] == "done"
    for refused in (ring_again, create):
        assert "Writes are refused while the shared state store" in refused and "Nothing was sent" in refused
        assert "Reads still work" in refused
    assert tags["tags"] and calls["returned"] == 3
    assert after["outcome"] == "done"
    assert len(rings(sandbox)) == 1
    assert [r.body["name"] for r in new_tags(sandbox)] == ["After Redis is back"]


async def test_stateless_replicas_complete_a_form_and_a_code_once_on_either_replica(sandbox, redis, tmp_path):
    seen: list[str] = []
    shared = {"SIPSIM_STATE_URL": redis.url, "SIPSIM_CONFIRM_KEY": KEY}
    with replicas(sandbox, tmp_path, stateless=True, **shared) as servers:
        accept = answering("accept", {"confirm": True}, seen)
        async with balanced(servers, elicitation_callback=accept) as modern:
            assert modern.protocol_version == "2026-07-28"
            form = data(await modern.call_tool("create_tag", {"name": "Form over two replicas"}))
        async with balanced(servers, mode="legacy") as legacy:
            preview = data(await legacy.call_tool("create_tag", {"name": "Code over two replicas"}))
            code = data(
                await legacy.call_tool(
                    "create_tag", {"name": "Code over two replicas", "confirmation_code": preview["confirmation_code"]}
                )
            )
    assert len(seen) == 1 and "Create the tag 'Form over two replicas'" in seen[0]
    assert form["outcome"] == "done" and code["outcome"] == "done"
    assert [r.body["name"] for r in new_tags(sandbox)] == ["Form over two replicas", "Code over two replicas"]


async def test_without_a_shared_key_a_form_cannot_complete_on_another_replica(sandbox, tmp_path):
    """The control for the test above: replicas that share neither a key nor a store (each in memory)."""
    with replicas(sandbox, tmp_path, stateless=True, SIPSIM_STATE_URL="memory://") as servers:
        async with balanced(servers, elicitation_callback=answering("accept", {"confirm": True})) as modern:
            with pytest.raises(Exception, match="requestState"):
                await modern.call_tool("create_tag", {"name": "Lost between replicas"})
    assert new_tags(sandbox) == []


async def test_doctor_checks_the_state_store(sandbox, redis):
    up = await diagnose(settings_for(sandbox, state_url=redis.url))
    down = await diagnose(settings_for(sandbox, state_url=f"redis://127.0.0.1:{free_port()}/0"))
    [ok] = [check for check in up.checks if check.name == "state"]
    [failed] = [check for check in down.checks if check.name == "state"]
    assert ok.status == "ok" and f"Redis at {redis.url}" in ok.detail
    assert (
        failed.status == "fail" and "writes would be refused" in failed.detail and "SIPSIM_STATE_URL" in failed.detail
    )
    assert up.ok and not down.ok
