"""Live calls across real processes: `sipsim-mcp --transport http` mounts the receiver at SIPSIM_WEBHOOK_PATH
(no MCP token needed there, size-limited) and tells a 2025 session (`notifications/resources/updated`) and a
2026-07-28 client (`subscriptions/listen`) when a call rings; two replicas over one Redis event log show the
same live calls, and a long poll on one returns when the other receives; the demo answers "who is calling
now?" over stdio and over HTTP (its simulator posting to the receiver the HTTP transport mounts); doctor
checks a running receiver end to end. The signing secret and the MCP token appear in no log or output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceUpdatedNotification

from sipsim_mcp.sandbox import LiveConfig, Sandbox
from sipsim_mcp.sandbox.live import Delivery

from .conftest import NOW, make_sandbox
from .external import ROOT, against, server_env
from .mcp_helpers import data
from .replicas import Command, ServerProcess, replicas
from .test_webhooks import SECRET as RECEIVE_SECRET
from .test_webhooks import receive_process

pytestmark = [pytest.mark.anyio, pytest.mark.clock]

SECRET = "whsec-live-" + "9" * 40
TOKEN = "mcp-token-live-" + "t" * 30
PATH = "/webhooks/sipsim"
SALES = "+33184880101"


@pytest.fixture
def live_sandbox() -> Iterator[Sandbox]:
    """A simulator on a loopback port whose live side posts nowhere until pointed at a receiver."""
    sandbox = make_sandbox(now=NOW, live=LiveConfig(rate=0, url=None, secret=SECRET))
    sandbox.start()
    yield sandbox
    sandbox.stop()


def send(sandbox: Sandbox, payload: dict[str, Any]) -> Delivery:
    assert sandbox.live is not None
    return sandbox.live.send(payload)


def ring(sandbox: Sandbox, pbx: str, caller: str = "+33612345678") -> dict[str, Any]:
    call = {"caller": caller, "receiver": SALES, "pbx_id": pbx, "time": sandbox.clock().isoformat()}
    delivery = send(sandbox, {"event": "incoming_call_start", **call})
    assert delivery.status == 200, delivery
    return call


def assert_quiet(*logs: Path) -> None:
    for log in logs:
        text = log.read_text()
        assert SECRET not in text and TOKEN not in text, log


@asynccontextmanager
async def client_of(url: str, token: str | None = None, **options: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(timeout=60, headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), **options) as client,
    ):
        yield client


async def live_calls(client: Client) -> list[dict[str, Any]]:
    return json.loads((await client.read_resource("sipsim://calls/live")).contents[0].text)["calls"]


async def test_the_http_transport_receives_webhooks_and_tells_subscribers_of_both_eras(live_sandbox, tmp_path):
    environment = {
        "SIPSIM_WEBHOOK_SECRET": SECRET,
        "SIPSIM_EVENTS_URL": f"sqlite:///{tmp_path}/events.sqlite3",
        "SIPSIM_MCP_AUTH_TOKEN": TOKEN,
        "SIPSIM_LOG_LEVEL": "DEBUG",
    }
    with ServerProcess(live_sandbox, tmp_path / "server.log", **environment) as server:
        receiver = f"http://127.0.0.1:{server.port}{PATH}"
        assert live_sandbox.live is not None
        live_sandbox.live.point_at(receiver)
        updates: list[str] = []
        updated = anyio.Event()

        async def on_message(message: Any) -> None:
            if isinstance(message, ResourceUpdatedNotification):
                updates.append(message.params.uri)
                updated.set()

        async with (
            client_of(server.url, TOKEN, mode="legacy", message_handler=on_message) as legacy,
            client_of(server.url, TOKEN) as modern,
        ):
            assert modern.protocol_version == "2026-07-28" and legacy.protocol_version != "2026-07-28"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the SDK flags resources/subscribe as of 2025
                await legacy.session.subscribe_resource("sipsim://calls/live")
            async with modern.listen(resource_subscriptions=["sipsim://calls/live"]) as subscription:
                began = time.monotonic()
                await anyio.to_thread.run_sync(ring, live_sandbox, "call_http")
                with anyio.fail_after(10):
                    heard = (await subscription.__anext__()).uri
                    await updated.wait()
                took = time.monotonic() - began
            now = await live_calls(modern)
            cursor = data(await modern.call_tool("recent_call_events", {}))["cursor"]

            async def later() -> None:
                await anyio.sleep(1)
                await anyio.to_thread.run_sync(ring, live_sandbox, "call_polled")

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(later)
                polled = data(await legacy.call_tool("recent_call_events", {"since": cursor, "wait_s": 15}))
            timed_out = data(await legacy.call_tool("recent_call_events", {"since": polled["cursor"], "wait_s": 1}))
        async with httpx.AsyncClient() as http:  # no MCP token: on the receiver, the signature decides
            unsigned = await http.post(receiver, json={"event": "incoming_call_start"})
            too_large = await http.post(receiver, content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
            mcp_without_token = await http.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert heard == "sipsim://calls/live" and updates[:1] == ["sipsim://calls/live"] and took < 5
    assert [c["call"] for c in now] == ["call_http"] and now[0]["line"] == "Sales"
    assert [e["call"] for e in polled["events"]] == ["call_polled"]
    assert timed_out["events"] == [] and timed_out["cursor"] == polled["cursor"]
    assert unsigned.status_code == 401 and unsigned.json() == {"error": "signature refused"}
    assert too_large.status_code == 413 and mcp_without_token.status_code == 401
    assert "Webhook incoming_call_start stored" in (tmp_path / "server.log").read_text()
    assert_quiet(tmp_path / "server.log")


async def test_two_replicas_over_one_redis_log_show_the_same_live_calls(live_sandbox, redis, tmp_path):
    """The simulator posts to replica A only; B follows the shared log: same calls, its long poll and its
    listen stream wake when A receives."""
    environment = {"SIPSIM_WEBHOOK_SECRET": SECRET, "SIPSIM_EVENTS_URL": redis.url, "SIPSIM_LOG_LEVEL": "DEBUG"}
    with replicas(live_sandbox, tmp_path, stateless=True, **environment) as (a, b):
        assert live_sandbox.live is not None
        live_sandbox.live.point_at(f"http://127.0.0.1:{a.port}{PATH}")
        async with client_of(a.url) as on_a, client_of(b.url) as on_b:
            for n in range(3):
                await anyio.to_thread.run_sync(ring, live_sandbox, f"call_r{n}", f"+3361234567{n}")
            answered = {"event": "incoming_call_answer", "caller": "+33612345670", "receiver": "203",
                        "pbx_id": "call_r0", "time": live_sandbox.clock().isoformat()}  # fmt: skip
            assert (await anyio.to_thread.run_sync(send, live_sandbox, answered)).status == 200
            cursor = data(await on_b.call_tool("recent_call_events", {}))["cursor"]
            seen_a, seen_b = await live_calls(on_a), await live_calls(on_b)
            async with on_b.listen(resource_subscriptions=["sipsim://calls/live"]) as subscription:

                async def later() -> None:
                    await anyio.sleep(1)
                    await anyio.to_thread.run_sync(ring, live_sandbox, "call_late")

                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(later)
                    began = time.monotonic()
                    polled = data(await on_b.call_tool("recent_call_events", {"since": cursor, "wait_s": 15}))
                    took = time.monotonic() - began
                with anyio.fail_after(10):
                    heard = (await subscription.__anext__()).uri
        async with client_of(b.url, mode="legacy") as legacy:  # stateless: no 2025 session to notify
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with pytest.raises(MCPError, match="needs a session"):
                    await legacy.session.subscribe_resource("sipsim://calls/live")
    assert sorted(c["call"] for c in seen_a) == ["call_r0", "call_r1", "call_r2"]
    assert seen_a == seen_b
    assert next(c for c in seen_b if c["call"] == "call_r0")["answered_by"] == "203"
    assert [e["call"] for e in polled["events"]] == ["call_late"] and took < 8
    assert heard == "sipsim://calls/live"
    assert_quiet(tmp_path / "server-0.log", tmp_path / "server-1.log")


@contextmanager
def demo_over_http(tmp_path: Path) -> Iterator[Command]:
    command = Command(
        lambda port: [sys.executable, "-m", "sipsim_mcp", "--demo", "--transport", "http", "--port", str(port)],
        tmp_path / "demo.log",
        "the HTTP demo",
        cwd=ROOT,
        env=server_env(SIPSIM_NOW=NOW.isoformat(), SIPSIM_DEMO_LIVE_RATE="600", SIPSIM_LOG_LEVEL="INFO"),
    )
    with command:
        yield command


async def who_is_calling(client: Client) -> dict[str, Any]:
    """Ask until a call is live (the demo places ten a minute... a second here)."""
    with anyio.fail_after(30):
        while True:
            answer = data(await client.call_tool("recent_call_events", {"wait_s": 10}))
            if answer["live"]:
                return answer


async def test_the_demo_answers_who_is_calling_now_over_stdio():
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sipsim_mcp", "--demo"],
        env=server_env(SIPSIM_NOW=NOW.isoformat(), SIPSIM_DEMO_LIVE_RATE="600"),
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        answer = await who_is_calling(client)
        resources = {r.uri for r in (await client.list_resources()).resources}
    call = answer["live"][0]
    assert call["state"] in ("ringing", "in_progress") and call["line"] and call["since"] >= "2026-11-28T10:00"
    assert {"sipsim://calls/live", "sipsim://events/recent"} <= resources


async def test_the_demo_over_http_posts_to_the_receiver_it_mounts(tmp_path):
    with demo_over_http(tmp_path) as server:
        url = f"http://127.0.0.1:{server.port}"
        async with client_of(f"{url}/mcp") as client:
            answer = await who_is_calling(client)
        async with httpx.AsyncClient() as http:
            forged = await http.post(url + PATH, json={"event": "test"}, headers={"X-Webhook-Signature": "x"})
    log = (tmp_path / "demo.log").read_text()
    assert answer["live"] and forged.status_code == 401
    assert f"webhooks posted to {url}{PATH}" in log  # its own receiver, mounted: no second one started


def doctor(sandbox: Sandbox, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "doctor"],
        cwd=ROOT,
        env=against(sandbox, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_checks_a_running_receiver_end_to_end(sandbox, tmp_path):
    secret, store = RECEIVE_SECRET, f"sqlite:///{tmp_path}/events.sqlite3"  # those of the receive process
    with receive_process(tmp_path) as (process, url):
        public = url.replace(PATH, "/mcp")
        good = doctor(sandbox, SIPSIM_WEBHOOK_SECRET=secret, SIPSIM_EVENTS_URL=store, SIPSIM_MCP_PUBLIC_URL=public)
        wrong = doctor(sandbox, SIPSIM_WEBHOOK_SECRET="not-" + secret, SIPSIM_EVENTS_URL=store,
                       SIPSIM_MCP_PUBLIC_URL=public)  # fmt: skip
        elsewhere = doctor(sandbox, SIPSIM_WEBHOOK_SECRET=secret, SIPSIM_EVENTS_URL=f"sqlite:///{tmp_path}/other.db",
                           SIPSIM_MCP_PUBLIC_URL=public)  # fmt: skip
    local = doctor(sandbox, SIPSIM_WEBHOOK_SECRET=secret, SIPSIM_EVENTS_URL=store)
    off = doctor(sandbox)
    assert good.returncode == 0, good.stdout
    assert f"[ ok ] receiver: a signed test event posted to {url} was accepted and kept in the SQLite" in good.stdout
    assert wrong.returncode == 1 and f"[FAIL] receiver: the receiver at {url} refused the signature" in wrong.stdout
    assert elsewhere.returncode == 1 and "accepted the test event, but it is not in the SQLite file" in elsewhere.stdout
    assert local.returncode == 0 and "a receiver started here on this configuration" in local.stdout
    assert "[ ok ] receiver: off: set SIPSIM_WEBHOOK_SECRET" in off.stdout
    assert "hidden recent_call_events: about live calls, which need the webhook receiver" in off.stdout
    for result in (good, wrong, elsewhere, local, off):
        assert secret not in result.stdout + result.stderr
    assert secret not in process.log.read_text()
