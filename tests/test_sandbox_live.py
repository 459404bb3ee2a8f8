"""The simulator goes live: after its data set's anchor it places calls as they happen (incoming ones ring the
line's members, are answered or missed, end; outgoing ones too), adds each to `GET /calls` when it ends, and
POSTs each enabled event, signed, to a receiver over real HTTP; its fault switch duplicates, reorders and
forges deliveries, and the calls the receiver sees are still those of the history. Without live calls (or
before any ends) the data set at a fixed anchor is the one it always was. `sipsim-mcp sandbox --webhook-url`
and the demo do the same, with the secret in no output."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest

from sipsim_mcp.api.events import MemoryEventLog, SqliteEventLog, open_event_log
from sipsim_mcp.app.demo import demo_environment, demo_settings
from sipsim_mcp.app.live import serve_in_thread
from sipsim_mcp.language.live import reduce
from sipsim_mcp.mcp.receiver import WebhookReceiver, receiver_app
from sipsim_mcp.sandbox import LiveConfig, Sandbox, SandboxConfig
from sipsim_mcp.sandbox.dataset import FIRST_CALL_ID, build_dataset

from .conftest import NOW
from .external import ROOT, server_env
from .replicas import Command
from .test_webhooks import PATH, SECRET, receive_process

CALL_EVENTS = {"incoming_call_start", "incoming_call_end", "outgoing_call_start", "outgoing_call_end"}


@contextmanager
def live_simulator(**live: Any) -> Iterator[tuple[Sandbox, MemoryEventLog]]:
    """A simulator at NOW placing calls 100x faster than life, posting to a receiver in this process."""
    log = MemoryEventLog()
    started = time.monotonic()
    clock = lambda: NOW.timestamp() + time.monotonic() - started  # noqa: E731
    receiver = WebhookReceiver(log, [SECRET.encode()], clock=clock, rate=100_000)  # 100x faster than life
    with serve_in_thread(receiver_app(receiver, PATH)) as base:
        options = {"rate": 3000.0, "url": base + PATH, "secret": SECRET, "pace": 0.01, **live}
        sandbox = Sandbox(SandboxConfig(anchor=NOW, now=NOW, live=LiveConfig(**options)))
        with sandbox:
            yield sandbox, log


def run_for(sandbox: Sandbox, seconds: float) -> None:
    time.sleep(seconds)
    assert sandbox.live is not None
    sandbox.live.stop()
    time.sleep(0.2)


def rest_calls(sandbox: Sandbox, **query: str) -> list[dict[str, Any]]:
    token = sandbox.issue_token()
    params = {"start_time": "2026-11-28T09:00:00Z", "limit": "1000", **query}
    answer = httpx.get(sandbox.api_url + "/calls", params=params, headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return answer.json()["data"]


def test_without_live_calls_the_data_set_at_the_anchor_is_the_one_it_always_was():
    plain = build_dataset(SandboxConfig(anchor=NOW))
    with live_simulator(rate=0) as (sandbox, _):
        assert sandbox.data.calls == plain.calls and sandbox.data.next_call_id == FIRST_CALL_ID + 5000
        assert sandbox.live is not None
        sandbox.live.place_call(inbound=True, answered=True)
        run_for(sandbox, 3)
        assert len(sandbox.data.calls) == 5001
    assert build_dataset(SandboxConfig(anchor=NOW)).calls == plain.calls  # the pristine set was not touched
    assert Sandbox(SandboxConfig(anchor=NOW)).live is None


def test_live_calls_ring_get_answered_or_missed_end_and_join_the_history():
    with live_simulator() as (sandbox, log):
        run_for(sandbox, 4)
        history = rest_calls(sandbox)
        events = anyio.run(log.read, None, 100_000)
        assert sandbox.live is not None
        deliveries = sandbox.live.deliveries
    assert history and all(c["start_time"] >= "2026-11-28T09:00:00Z" for c in history)
    assert sorted(c["id"] for c in history) == list(range(FIRST_CALL_ID + 5000, FIRST_CALL_ID + 5000 + len(history)))
    assert {c["call_type"] for c in history} >= {"inbound", "missed", "outgoing"}
    assert {d.status for d in deliveries} == {200} and len(events) == len(deliveries)
    calls = reduce(events).calls
    for row in history:
        call = calls[row["pbx_id"]]
        assert (call.phase, call.status, call.duration) == ("ended", row["status"], row["duration"])
        assert call.direction == row["direction"] and call.party == (
            row["caller_number"] if row["direction"] == "inbound" else row["receiver_number"]
        )
        if row["call_type"] == "inbound":  # who answered, as the events tell it: the employee's extension
            assert call.answered_by == str(200 + row["employee_id"])
    assert any(c.phase == "ringing" for c in calls.values()) or any(c.phase == "in_progress" for c in calls.values())
    kinds = Counter(e.kind for e in events)
    assert kinds["incoming_call_start_chain_member_call"] > kinds["incoming_call_start"] > 0
    assert kinds["outgoing_call_answer"] > 0 and kinds["incoming_call_answer"] > 0


def test_transcripts_and_summaries_come_after_their_call_as_the_rest_api_serves_them():
    with live_simulator() as (sandbox, log):
        run_for(sandbox, 6)
        state = reduce(anyio.run(log.read, None, 100_000))
        token = sandbox.issue_token()
        assert state.after, "some recorded calls were transcribed"
        for call_id, after in list(state.after.items())[:5]:
            headers = {"Authorization": f"Bearer {token}"}
            rest = httpx.get(f"{sandbox.api_url}/calls/{call_id}/transcription", headers=headers).json()["data"]
            assert [s["text"] for s in rest["payload"]] == [s["text"] for s in after.transcript]
            assert {s["channel"] for s in after.transcript} == {"left", "right"}
            if after.summary is not None:
                summary = httpx.get(f"{sandbox.api_url}/calls/{call_id}/summary", headers=headers).json()["data"]
                assert summary["summary"] == after.summary


def test_only_the_enabled_events_are_delivered():
    with live_simulator(events=("incoming_call_start", "incoming_call_end")) as (sandbox, log):
        run_for(sandbox, 2)
        kinds = {e.kind for e in anyio.run(log.read, None, 100_000)}
        enabled = sandbox.data.webhooks_enabled
    assert kinds == set(enabled) == {"incoming_call_start", "incoming_call_end"}


def test_with_every_fault_switched_on_the_receiver_still_sees_the_calls_of_the_history():
    faults = frozenset({"duplicate", "out_of_order", "bad_signature"})
    with live_simulator(faults=faults, fault_share=0.3) as (sandbox, log):
        run_for(sandbox, 4)
        history = rest_calls(sandbox)
        events = anyio.run(log.read, None, 100_000)
        assert sandbox.live is not None
        deliveries = sandbox.live.deliveries
    by_fault = Counter((d.fault, d.status) for d in deliveries)
    assert by_fault[("duplicate", 200)] > 0 and by_fault[("out_of_order", 200)] > 0
    assert by_fault[("bad_signature", 401)] > 0 and not [
        d for d in deliveries if d.fault == "bad_signature" and d.status != 401
    ]
    assert len(events) == len([d for d in deliveries if d.fault not in ("duplicate", "bad_signature")])
    calls = reduce(events).calls
    assert not [pbx for pbx in calls if pbx.startswith("forged_")]
    for row in history:
        assert (calls[row["pbx_id"]].phase, calls[row["pbx_id"]].status) == ("ended", row["status"])


@pytest.mark.clock
def test_the_sandbox_command_posts_live_calls_to_the_receive_command(tmp_path):
    """Two processes as an operator runs them: `sipsim-mcp receive` and `sipsim-mcp sandbox --webhook-url`."""
    with receive_process(tmp_path, clock=False) as (receiver, url):  # both on the system clock
        simulator = Command(
            lambda port: [sys.executable, "-m", "sipsim_mcp", "sandbox", "--port", str(port), "--live-rate", "120",
                          "--webhook-url", url, "--webhook-faults", "duplicate"],
            tmp_path / "sandbox.log",
            "sipsim-mcp sandbox",
            cwd=ROOT,
            env=server_env(SIPSIM_WEBHOOK_SECRET=SECRET),
        )  # fmt: skip
        with simulator:
            log = SqliteEventLog(tmp_path / "events.sqlite3")
            events = anyio.run(log.wait, None, 30)
    assert events and events[0].kind in CALL_EVENTS | {"incoming_call_start_chain_member_call"}
    banner = simulator.log.read_text()
    assert "120 calls a minute happen live, their webhooks signed with SIPSIM_WEBHOOK_SECRET and posted to" in banner
    assert "(faults: duplicate)" in banner
    assert SECRET not in banner and SECRET not in receiver.log.read_text()


@pytest.mark.clock
def test_the_sandbox_command_will_not_post_unsigned_webhooks(tmp_path):
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "sandbox", "--webhook-url", "http://127.0.0.1:9/hook"],
        cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--webhook-url needs SIPSIM_WEBHOOK_SECRET" in done.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "sandbox", "--webhook-faults", "lost"],
        cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "expected some of duplicate, out_of_order, bad_signature" in bad.stderr


def test_the_live_demo_shares_a_secret_with_its_receiver_and_keeps_the_events(caplog):
    caplog.set_level(logging.DEBUG)
    with demo_environment(now=NOW, live_rate=600) as sandbox:
        settings = demo_settings(sandbox)
        secret = settings.webhook_secrets[0]
        assert settings.events_url and settings.events_url.startswith("sqlite:///")
        log = open_event_log(settings.events_url)
        events = anyio.run(log.wait, None, 20)
        assert sandbox.live is not None and sandbox.live.config.secret == secret
    assert events[0].kind == "incoming_call_start" or events[0].kind == "outgoing_call_start"
    assert json.loads(events[0].body)["time"] >= "2026-11-28T09:00:00Z"
    assert len(secret) == 64 and not [r for r in caplog.records if secret in r.getMessage()]
    with demo_environment(now=NOW) as quiet:
        assert quiet.live is None and demo_settings(quiet).webhook_secret is None
