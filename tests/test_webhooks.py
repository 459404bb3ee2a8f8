"""The webhook receiver, fed by the simulator over real HTTP with real signatures: a signed event is stored
and answered at once; a bad signature, a replayed (stale) timestamp, a body too large or not JSON are
refused and nothing is stored; a repeated delivery is stored once; events out of order still give the right
call; a burst of 500 is answered within SIPSIM's 2 s each with nothing lost; a flood is rate-limited; a store
that is down answers 503 (delivered again later, stored once); the receiver mounts on the HTTP transport and
needs no MCP token. The signing secret appears in no answer and no log line."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.routing import Route

from sipsim_mcp.api.events import EventLog, MemoryEventLog, RedisEventLog, SqliteEventLog
from sipsim_mcp.api.webhooks import sign
from sipsim_mcp.app.live import serve_in_thread
from sipsim_mcp.language.live import LiveFeed, reduce
from sipsim_mcp.mcp.receiver import WebhookReceiver, receiver_app, receiver_from_settings
from sipsim_mcp.sandbox import LiveConfig, Sandbox, SandboxConfig

from .conftest import NOW, settings_for
from .external import ROOT, server_env
from .replicas import Command

pytestmark = pytest.mark.anyio

SECRET = "whsec-" + "5" * 40
OLD_SECRET = "whsec-old-" + "7" * 30
PATH = "/webhooks/sipsim"


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        assert SECRET not in text and OLD_SECRET not in text, record


class Wire:
    """A simulator posting to a receiver on a loopback port: both on the tests' clock (NOW, running)."""

    def __init__(self, sandbox: Sandbox, log: EventLog, receiver: WebhookReceiver, url: str) -> None:
        self.sandbox, self.log, self.receiver, self.url = sandbox, log, receiver, url
        assert sandbox.live is not None
        self.live = sandbox.live

    def send(self, payload: dict[str, Any], **options: Any) -> Any:
        return self.live.send(payload, **options)

    def stored(self) -> list[Any]:
        return anyio.run(self.log.read, None, 100_000)

    def now(self) -> int:
        return int(self.live.now().timestamp())


@contextmanager
def wire(log: EventLog | None = None, *, secrets: tuple[str, ...] = (SECRET,), **options: Any) -> Iterator[Wire]:
    log = log or MemoryEventLog()
    started = time.monotonic()
    receiver = WebhookReceiver(
        log, [s.encode() for s in secrets], clock=lambda: NOW.timestamp() + time.monotonic() - started, **options
    )
    with serve_in_thread(receiver_app(receiver, PATH)) as base:
        config = SandboxConfig(anchor=NOW, now=NOW, live=LiveConfig(rate=0, url=base + PATH, secret=SECRET))
        sandbox = Sandbox(config)
        assert sandbox.live is not None
        sandbox.live.start()
        try:
            yield Wire(sandbox, log, receiver, base + PATH)
        finally:
            sandbox.stop()


def start(pbx: str = "call_1", **fields: Any) -> dict[str, Any]:
    return {"event": "incoming_call_start", "caller": "+33612345678", "receiver": "+33184880101", "pbx_id": pbx,
            "time": "2026-11-28T09:00:00Z", **fields}  # fmt: skip


def test_a_signed_event_is_stored_as_received_and_answered_at_once(tmp_path):
    with wire(SqliteEventLog(tmp_path / "events.sqlite3")) as w:
        delivery = w.send(start(caller="Zoë «+33 6»"))
        stored = w.stored()
    assert delivery.status == 200 and delivery.seconds < 2
    assert len(stored) == 1 and json.loads(stored[0].body) == start(caller="Zoë «+33 6»")
    assert stored[0].kind == "incoming_call_start"


def test_a_bad_signature_is_refused_with_nothing_echoed_and_nothing_stored():
    with wire() as w:
        forged = w.send(start(), secret="not-the-secret")
        raw = json.dumps(start()).encode()
        stamp = str(w.now())
        good = sign(SECRET.encode(), stamp.encode(), raw)
        both = {"X-Webhook-Signature": good, "X-Webhook-Timestamp": stamp}
        answers = [
            httpx.post(w.url, content=raw, headers={"X-Webhook-Timestamp": stamp}),  # no signature
            httpx.post(w.url, content=raw, headers={"X-Webhook-Signature": good}),  # no timestamp
            httpx.post(w.url, content=raw + b" ", headers=both),  # the body changed
            httpx.post(w.url, content=raw, headers={**both, "X-Webhook-Timestamp": str(int(stamp) + 1)}),
        ]
        stored = w.stored()
    assert forged.status == 401 and [a.status_code for a in answers] == [401] * 4
    for answer in answers:
        assert answer.json() == {"error": "signature refused"}
        assert good not in answer.text and "+33612345678" not in answer.text and SECRET not in answer.text
    assert stored == []


def test_during_a_rotation_the_old_and_new_secrets_are_both_accepted():
    with wire(secrets=(SECRET, OLD_SECRET)) as w:
        new = w.send(start("call_new"))
        old = w.send(start("call_old"), secret=OLD_SECRET)
        other = w.send(start("call_other"), secret="a-third-secret")
        stored = [json.loads(e.body)["pbx_id"] for e in w.stored()]
    assert (new.status, old.status, other.status) == (200, 200, 401)
    assert stored == ["call_new", "call_old"]


def test_a_stale_or_future_timestamp_is_refused_as_a_replay():
    with wire(max_age=300) as w:
        now = w.now()
        old = w.send(start("call_old"), timestamp=now - 400)
        future = w.send(start("call_future"), timestamp=now + 400)
        late_but_fine = w.send(start("call_ok"), timestamp=now - 250)
        millis = w.send(start("call_ms"), timestamp=now * 1000)
        stored = [json.loads(e.body)["pbx_id"] for e in w.stored()]
    assert (old.status, future.status, late_but_fine.status, millis.status) == (401, 401, 200, 200)
    assert stored == ["call_ok", "call_ms"]


def test_a_repeated_delivery_is_answered_ok_and_stored_once():
    with wire() as w:
        first, again = w.send(start()), w.send(start())
        answer = httpx.post(
            w.url, content=json.dumps(start()).encode(), headers=signed(json.dumps(start()).encode(), w)
        )
        stored = w.stored()
    assert (first.status, again.status) == (200, 200) and answer.json() == {"ok": True, "duplicate": True}
    assert len(stored) == 1


def signed(raw: bytes, w: Wire) -> dict[str, str]:
    stamp = str(w.now())
    return {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(SECRET.encode(), stamp.encode(), raw)}


def test_what_one_call_legitimately_repeats_is_not_taken_for_a_duplicate():
    """Ring events fire once per member, tags once per change, speech/summary per call: all kept."""
    member = {**start(), "event": "incoming_call_start_chain_member_call"}
    payloads = [
        {**member, "receiver": "201"},
        {**member, "receiver": "202"},
        {**start(), "event": "tags", "tags": ["VIP"], "time": "2026-11-28T09:01:00Z"},
        {**start(), "event": "tags", "tags": ["VIP", "Lead"], "time": "2026-11-28T09:02:00Z"},
        {"call_id": 100001, "speech_state": "speech_stored", "payload": []},
        {"call_id": 100002, "speech_state": "speech_stored", "payload": []},
        {"id": 1, "call_id": 100001, "summary": "a"},
        {"event": "sms", "caller": "+33612345678", "receiver": "+33184880101", "message": "hi", "time": "t1"},
        {"event": "sms", "caller": "+33612345678", "receiver": "+33184880101", "message": "hi", "time": "t2"},
    ]
    with wire() as w:
        first = [w.send(p).status for p in payloads]
        again = [w.send(p).status for p in payloads]
        kinds = [e.kind for e in w.stored()]
    assert first == again == [200] * len(payloads)
    member_rings = ["incoming_call_start_chain_member_call"] * 2
    assert kinds == [*member_rings, "tags", "tags", "speech", "speech", "summary", "sms", "sms"]


def test_the_dashboards_test_event_is_verified_and_answered():
    test = {"event": "test", "message": "Test webhook from SIPSIM", "timestamp": "2026-11-28T09:00:00Z",
            "pbx_id": "test_000000"}  # fmt: skip
    with wire() as w:
        answer = httpx.post(w.url, content=json.dumps(test).encode(), headers=signed(json.dumps(test).encode(), w))
        state = reduce(w.stored())
    assert answer.status_code == 200 and answer.json() == {"ok": True, "test": True}
    assert state.last_test is not None and state.calls == {}


def test_events_delivered_out_of_order_still_give_the_call_its_events_tell():
    events = [
        start(),
        {**start(), "event": "incoming_call_start_chain_member_call", "receiver": "201"},
        {**start(), "event": "incoming_call_answer", "receiver": "201", "time": "2026-11-28T09:00:09Z"},
        {**start(), "event": "incoming_call_end", "duration": 51, "status": "ANSWER", "audio_path": None,
         "time": "2026-11-28T09:01:00Z"},
    ]  # fmt: skip
    with wire() as w:
        statuses = [w.send(p).status for p in reversed(events)]
        call = reduce(w.stored()).calls["call_1"]
    assert statuses == [200] * 4
    assert (call.phase, call.answered_by, call.caller, call.duration, call.ringing) == (
        "ended",
        "201",
        "+33612345678",
        51,
        (),
    )
    assert call.started_at is not None and call.started_at == NOW


@contextmanager
def receive_process(tmp_path: Path, *, clock: bool = True, **env: str) -> Iterator[tuple[Command, str]]:
    """`sipsim-mcp receive` on a free port, its events in a SQLite file, on the tests' clock (NOW, running) or
    with `clock=False` on the system's; yields it and its URL."""
    # SIPSIM_NOW is allowed against a simulator: a loopback SIPSIM_API_URL
    now = {"SIPSIM_NOW": NOW.isoformat(), "SIPSIM_API_URL": "http://127.0.0.1:9/api/v2"} if clock else {}
    environment = server_env(
        SIPSIM_WEBHOOK_SECRET=SECRET,
        SIPSIM_EVENTS_URL=f"sqlite:///{tmp_path}/events.sqlite3",
        SIPSIM_LOG_LEVEL="DEBUG",
        **now,
        **env,
    )
    command = Command(
        lambda port: [sys.executable, "-m", "sipsim_mcp", "receive", "--port", str(port)],
        tmp_path / "receive.log",
        "sipsim-mcp receive",
        cwd=ROOT,
        env=environment,
    )
    with command:
        yield command, f"http://127.0.0.1:{command.port}{PATH}"


def live_sender(url: str) -> Sandbox:
    sandbox = Sandbox(SandboxConfig(anchor=NOW, now=NOW, live=LiveConfig(rate=0, url=url, secret=SECRET)))
    assert sandbox.live is not None
    sandbox.live.start()
    return sandbox


@pytest.mark.clock
def test_a_burst_of_500_events_is_answered_within_two_seconds_each_and_nothing_is_lost(tmp_path):
    """The receiver in its own process (`sipsim-mcp receive`, SQLite), the simulator posting 10 at a time."""
    payloads = [start(f"call_{n:04d}") for n in range(500)]
    with receive_process(tmp_path) as (process, url):
        sender = live_sender(url)
        try:
            deliveries = sender.live.burst(payloads, concurrency=10)  # type: ignore[union-attr]
        finally:
            sender.stop()
    stored = anyio.run(SqliteEventLog(tmp_path / "events.sqlite3").read, None, 10_000)
    assert [d.status for d in deliveries] == [200] * 500
    assert max(d.seconds for d in deliveries) < 2.0
    assert sorted(json.loads(e.body)["pbx_id"] for e in stored) == [p["pbx_id"] for p in payloads]
    output = process.log.read_text()
    assert "receiving SIPSIM webhooks at" in output and "stored at" in output  # at DEBUG, every event
    assert SECRET not in output


def test_a_flood_beyond_the_rate_limit_is_told_to_come_back_and_what_was_accepted_is_kept():
    with wire(rate=1) as w:  # bursts of 10
        began = time.monotonic()
        deliveries = w.live.burst([start(f"call_{n}") for n in range(60)], concurrency=20)
        took = time.monotonic() - began
        stored = w.stored()
    accepted = [d for d in deliveries if d.status == 200]
    refused = [d for d in deliveries if d.status == 429]
    assert len(accepted) + len(refused) == 60 and 10 <= len(accepted) <= 11 + took
    assert all(d.retry_after is not None and int(d.retry_after) >= 1 for d in refused)
    assert sorted(json.loads(e.body)["pbx_id"] for e in stored) == sorted(d.payload["pbx_id"] for d in accepted)


def test_a_body_too_large_or_not_json_is_refused_and_nothing_stored():
    with wire() as w:
        huge = json.dumps(start(caller="x" * (1024 * 1024))).encode()
        too_large = w.send(start(), body=huge)
        not_json = w.send(start(), body=b"event=incoming_call_start")
        a_list = w.send(start(), body=b"[1, 2]")
        get = httpx.get(w.url)
        elsewhere = httpx.post(w.url.replace(PATH, "/other"), content=b"{}")
        stored = w.stored()
    assert (too_large.status, not_json.status, a_list.status) == (413, 400, 400)
    assert get.status_code == 405 and get.headers["allow"] == "POST" and elsewhere.status_code == 404
    assert stored == []


def test_the_answer_does_not_wait_for_the_processing_that_follows_it():
    processed: list[Any] = []

    async def slow(event: Any) -> None:
        await anyio.sleep(3)
        processed.append(event)

    with wire(after=slow) as w:
        delivery = w.send(start())
        assert delivery.status == 200 and delivery.seconds < 1 and processed == []
        deadline = time.monotonic() + 10
        while not processed and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [e.kind for e in processed] == ["incoming_call_start"]


def test_a_store_that_is_down_answers_503_and_the_redelivery_is_stored_once(redis):
    with wire(RedisEventLog(redis.url, timeout=0.5)) as w:
        redis.stop()
        down = w.send(start())
        redis.start()
        again, once_more = w.send(start()), w.send(start())
    stored = anyio.run(RedisEventLog(redis.url).read)
    assert (down.status, again.status, once_more.status) == (503, 200, 200)
    assert len(stored) == 1


def test_the_receiver_mounts_on_the_http_transport_and_needs_no_mcp_token(sandbox):
    """What the HTTP transport will do: a route for the receiver beside /mcp, outside its bearer check."""
    from sipsim_mcp.mcp.http import http_app

    settings = settings_for(
        sandbox, mcp_auth_token="mcp-token-" + "m" * 30, webhook_secret=SECRET, events_url="memory:"
    )
    log = MemoryEventLog()
    app = http_app(settings, host="127.0.0.1", port=8000)
    app.router.routes.insert(0, Route(settings.webhook_path, receiver_from_settings(settings, log), methods=["POST"]))
    with serve_in_thread(app) as base:
        raw = json.dumps(start()).encode()
        stamp = str(int(settings.clock()().timestamp()))
        headers = {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(SECRET.encode(), stamp.encode(), raw)}
        webhook = httpx.post(base + settings.webhook_path, content=raw, headers=headers)
        mcp = httpx.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert webhook.status_code == 200 and mcp.status_code == 401
    assert len(anyio.run(log.read)) == 1


def test_settings_give_the_receiver_its_secrets_and_refuse_none(sandbox):
    from sipsim_mcp.api.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="SIPSIM_WEBHOOK_SECRET is not set"):
        receiver_from_settings(settings_for(sandbox), MemoryEventLog())
    settings = settings_for(sandbox, webhook_secret=f" {SECRET} , {OLD_SECRET} ")
    assert settings.webhook_secrets == (SECRET, OLD_SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    for path in ("/mcp", "webhooks", "/", "/hooks?x=1"):
        with pytest.raises(ConfigError, match="SIPSIM_WEBHOOK_PATH must be a path of its own"):
            load_settings(webhook_path=path)
    with pytest.raises(ConfigError, match="SIPSIM_EVENTS_URL must be sqlite:///"):
        load_settings(events_url="postgres://db/events")
    assert load_settings(state_url="redis://10.0.0.5:6379/0").events_store == "redis://10.0.0.5:6379/0"
    assert load_settings(state_url="memory://").events_store is None  # write guards in memory: events stay shared
    assert load_settings().events_store is None  # the default SQLite file


@pytest.mark.clock
def test_the_receive_command_says_what_to_set_when_it_cannot_work(tmp_path):
    import subprocess

    def receive(**env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sipsim_mcp", "receive", "--port", "9"]
        return subprocess.run(command, cwd=ROOT, env=server_env(**env), capture_output=True, text=True, timeout=60)

    no_secret = receive(SIPSIM_EVENTS_URL="memory:")
    assert no_secret.returncode == 2 and "SIPSIM_WEBHOOK_SECRET is not set" in no_secret.stderr
    (tmp_path / "file").write_text("")
    bad_store = receive(SIPSIM_WEBHOOK_SECRET=SECRET, SIPSIM_EVENTS_URL=f"sqlite:///{tmp_path}/file/events.sqlite3")
    assert bad_store.returncode == 2 and "SIPSIM_EVENTS_URL: the event store (the SQLite file" in bad_store.stderr
    assert "Traceback" not in no_secret.stderr + bad_store.stderr and SECRET not in bad_store.stderr


async def test_a_live_feed_sees_what_the_receiver_stored():
    log = MemoryEventLog()
    with wire(log) as w:
        feed = LiveFeed(log, clock=lambda: NOW + timedelta(seconds=5))
        w.send(start())
        w.send({**start(), "event": "incoming_call_start_chain_member_call", "receiver": "201"})
        waited = await feed.wait(None, 5)
    assert [r.kind for r in waited] == ["incoming_call_start", "incoming_call_start_chain_member_call"]
    assert [(v.call.pbx_id, v.liveness, v.call.ringing) for v in feed.calls()] == [("call_1", "ringing", ("201",))]
