"""Each write exactly once under the faults of a bad day, with real server processes: a code used once across
processes and restarts with nothing installed (the embedded store), codes and forms issued before a Redis
restarted empty, an answer dripped slower than the write's deadline, `kill -9` mid-burst (every request
SIPSIM received was audited before it left), and a line renamed before or after the preview."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import ElicitResult

from sipsim_mcp.sandbox import Fault

from .external import ROOT, against, node_tool
from .mcp_helpers import answering, data, error_text, writes
from .replicas import ServerProcess, replicas, to

pytestmark = [pytest.mark.anyio, pytest.mark.clock]

KEY = "once-test-key-" + "k" * 40
RING = {"line": "Sales", "number": "+33 6 12 34 56 78"}


def rings(sandbox) -> list[Any]:
    return [r for r in writes(sandbox, "POST") if r.path == "/api/v2/calls"]


def state_dir() -> Path:
    """The embedded store and audit log of this test's server processes (conftest sets XDG_STATE_HOME)."""
    return Path(os.environ["XDG_STATE_HOME"]) / "sipsim-mcp"


def audit_lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state_dir() / "audit.jsonl").read_text().splitlines()]


def ring(number: int) -> dict[str, str]:
    return {"line": "Sales", "number": f"+33 6 12 34 {number // 100:02d} {number % 100:02d}"}


# --- the embedded default: nothing to install -----------------------------------------------------------


@pytest.mark.external
def test_a_code_works_once_across_inspector_processes_as_readme_runs_them(sandbox, tmp_path):
    """README's Inspector CLI recipe: a server process per command, SIPSIM_CONFIRM_KEY set, nothing else."""
    server_env = {
        **{k: v for k, v in against(sandbox).items() if k.startswith("SIPSIM_")},
        "SIPSIM_CONFIRM_KEY": KEY,
        "SIPSIM_STATE_DIR": str(tmp_path / "state"),  # the Inspector passes its server no XDG_STATE_HOME
    }

    def inspector(*arguments: str) -> dict[str, Any]:
        options = [arg for name, value in server_env.items() for arg in ("-e", f"{name}={value}")]
        command = [str(node_tool("mcp-inspector")), "--cli", *options, sys.executable, "-m", "sipsim_mcp"]
        done = subprocess.run(
            [*command, "--method", "tools/call", "--tool-name", "create_tag", *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    name = ("--tool-arg", "name=Once")
    preview = inspector(*name)["structuredContent"]
    confirmed = (*name, "--tool-arg", f"confirmation_code={preview['confirmation_code']}")
    done = inspector(*confirmed)["structuredContent"]
    again = inspector(*confirmed)  # a third process, as after a restart
    assert preview["outcome"] == "preview" and done["outcome"] == "done"
    assert again["isError"] is True and "already been used" in again["content"][0]["text"]
    assert [r.body["name"] for r in writes(sandbox, "POST", "/api/v2/tags")] == ["Once"]


async def test_with_the_embedded_default_a_code_works_once_across_processes_and_restarts(sandbox, tmp_path):
    """Two server processes on one machine, no SIPSIM_STATE_URL, no SIPSIM_CONFIRM_KEY: they share the
    embedded store (and the secret it keeps); a restart remembers; a lost store refuses what came before."""
    confirmed = {"name": "Embedded", "confirmation_code": ""}
    with replicas(sandbox, tmp_path) as (a, b):
        async with to(a) as client:
            confirmed["confirmation_code"] = data(await client.call_tool("create_tag", {"name": "Embedded"}))[
                "confirmation_code"
            ]
            second = data(await client.call_tool("create_tag", {"name": "Kept for later"}))
        async with to(b) as client:
            done = data(await client.call_tool("create_tag", confirmed))
        async with to(a) as client:
            on_a = error_text(await client.call_tool("create_tag", confirmed))
        a.stop()
        a.start()
        async with to(a) as client:
            after_restart = error_text(await client.call_tool("create_tag", confirmed))
        a.stop()
        b.stop()
        shutil.rmtree(state_dir())  # the store is lost while no server runs
        a.start()
        async with to(a) as client:
            kept = {"name": "Kept for later", "confirmation_code": second["confirmation_code"]}
            after_loss = error_text(await client.call_tool("create_tag", kept))
    assert done["outcome"] == "done"
    assert "already been used" in on_a and "already been used" in after_restart
    assert "state store was reset" in after_loss and "Nothing was done" in after_loss
    assert [r.body["name"] for r in writes(sandbox, "POST", "/api/v2/tags")] == ["Embedded"]


# --- Redis restarted empty --------------------------------------------------------------------------


async def test_codes_and_forms_issued_before_redis_restarted_empty_are_refused(sandbox, redis, tmp_path):
    """The issue's fault: a Redis without persistence restarted empty while codes stay valid under
    SIPSIM_CONFIRM_KEY. Every code and form answer issued before is refused (ask the user again)."""
    call_id = sandbox.data.calls[-1]["id"]
    form_arguments = {"call_id": call_id, "tag": "Lead"}
    shared = {"SIPSIM_STATE_URL": redis.url, "SIPSIM_CONFIRM_KEY": KEY}
    with replicas(sandbox, tmp_path, stateless=True, **shared) as servers:
        accept = answering("accept", {"confirm": True})
        async with (
            to(servers[0]) as first,
            to(servers[1]) as second,
            to(servers[0], elicitation_callback=accept) as asks,
        ):
            clients = [first, second]
            codes = [
                data(await clients[i % 2].call_tool("start_call", ring(i)))["confirmation_code"] for i in range(40)
            ]
            used = []
            for i in range(0, 40, 2):  # half of them confirmed, each on the process that did not issue it
                confirmed = {**ring(i), "confirmation_code": codes[i]}
                used.append(await clients[(i + 1) % 2].call_tool("start_call", confirmed))
            asked = await asks.session.call_tool("tag_call", form_arguments, allow_input_required=True)
            answers = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
            replay = {"input_responses": answers, "request_state": asked.request_state}
            form = data(await asks.call_tool("tag_call", form_arguments, **replay))
            redis.stop()
            redis.start()  # empty: no persistence
            again = [
                error_text(await clients[i % 2].call_tool("start_call", {**ring(i), "confirmation_code": codes[i]}))
                for i in range(40)
            ]
            form_again = error_text(await asks.call_tool("tag_call", form_arguments, **replay))
    assert [data(result)["outcome"] for result in used] == ["done"] * 20 and form["outcome"] == "done"
    assert all("state store was reset" in text and "Nothing was done" in text for text in again), again[0]
    assert "state store was reset" in form_again and "asked again" in form_again
    assert sorted(r.body["number"] for r in rings(sandbox)) == sorted(
        "+336123400" + f"{i:02d}" for i in range(0, 40, 2)
    )
    assert len(writes(sandbox, "POST", f"/api/v2/calls/{call_id}/tags")) == 1


# --- slower than the deadline -----------------------------------------------------------------------


async def test_an_answer_dripped_slower_than_the_deadline_is_sent_once(sandbox, tmp_path):
    """SIPSIM takes the call, then answers a byte a second: each read is quick, the whole answer is not. The
    write is abandoned at its deadline (3 s) and reported unknown; a confirmation on another process meanwhile
    waits for it and is refused, and so is any repeat within the guard window."""
    sandbox.add_fault(Fault(method="POST", path="/api/v2/calls", drip=1.0))
    answers: dict[str, str] = {}
    with replicas(sandbox, tmp_path, SIPSIM_TIMEOUT="3") as (a, b):
        async with to(a) as on_a, to(b) as on_b:
            code_a = data(await on_a.call_tool("start_call", RING))["confirmation_code"]
            code_b = data(await on_b.call_tool("start_call", RING))["confirmation_code"]

            async def confirm(name: str, client: Any, code: str) -> None:
                answers[name] = error_text(await client.call_tool("start_call", {**RING, "confirmation_code": code}))

            started = time.monotonic()
            async with anyio.create_task_group() as group:
                group.start_soon(confirm, "a", on_a, code_a)
                await anyio.sleep(1)  # a's request was taken; its answer is dripping
                group.start_soon(confirm, "b", on_b, code_b)
            took = time.monotonic() - started
            later = error_text(await on_b.call_tool("start_call", RING))
    assert "did not answer within 3 s" in answers["a"] and "not known whether the change was made" in answers["a"]
    assert "outcome is unknown" in answers["b"] and "list_calls" in answers["b"]
    assert "outcome is unknown" in later and "not sent again" in later
    assert took < 15  # abandoned at the deadline, not when the answer ends (about 60 s of drip)
    assert len(rings(sandbox)) == 1
    outcomes = [(line["pid"], line["outcome"]) for line in audit_lines() if line["outcome"] != "preview"]
    assert [outcome for _, outcome in outcomes] == ["sending", "unknown", "refused", "refused"]


# --- kill -9 mid-burst --------------------------------------------------------------------------------


async def test_after_kill_9_mid_burst_every_request_sipsim_received_was_audited_first(sandbox, tmp_path):
    held = Fault(method="POST", path="/api/v2/calls", delay=10, times=30)  # SIPSIM holds each call 10 s
    sandbox.add_fault(held)
    server = ServerProcess(sandbox, tmp_path / "server.log", SIPSIM_TIMEOUT="4")
    with server:
        async with to(server) as client:
            codes = [data(await client.call_tool("start_call", ring(i)))["confirmation_code"] for i in range(30)]

        async def confirm(i: int) -> None:
            try:
                async with to(server) as own:
                    await own.call_tool("start_call", {**ring(i), "confirmation_code": codes[i]})
            except Exception:  # the server is killed under it
                pass

        async with anyio.create_task_group() as group:
            for i in range(30):
                group.start_soon(confirm, i)
            for _ in range(6000):
                if 30 - held.times >= 10:  # at least 10 calls reached SIPSIM, none answered yet
                    break
                await anyio.sleep(0.01)
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            group.cancel_scope.cancel()
        received = await settled(lambda: rings(sandbox))
        doctor = await anyio.run_process(
            [sys.executable, "-m", "sipsim_mcp", "doctor"],
            cwd=ROOT,
            env=against(sandbox, SIPSIM_TIMEZONE="Europe/Paris", SIPSIM_TIMEOUT="4"),
            check=False,
        )
        report = doctor.stdout.decode()
        server.start()  # restarted: the outcomes stay unknown (the guard window), and the codes were used
        async with to(server) as client:
            reused = error_text(await client.call_tool("start_call", {**ring(0), "confirmation_code": codes[0]}))
            repeat = error_text(await client.call_tool("start_call", ring(int(received[0].body["number"][-4:]))))
    audited = {line["request"]["body"]["number"] for line in audit_lines() if line["outcome"] == "sending"}
    assert len(received) >= 10
    assert {request.body["number"] for request in received} <= audited
    assert f"{len(audited)} write(s) of the last 7 days have an unknown outcome" in report, report
    assert report.count("start_call POST /calls") == min(5, len(audited))
    assert "outcome is unknown" in repeat  # a request that reached SIPSIM, asked for again
    assert "outcome is unknown" in reused or "already been used" in reused  # a code used before the kill
    # and neither was sent again:
    assert len(rings(sandbox)) == len(received)


async def settled(read: Any, quiet: float = 1.0, within: float = 30) -> list[Any]:
    """`read()` once it stopped changing for `quiet` seconds (the simulator logs an abandoned request when it
    notices the client left)."""
    last, since = read(), time.monotonic()
    for _ in range(int(within / 0.1)):
        await anyio.sleep(0.1)
        now = read()
        if len(now) != len(last):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


# --- renamed lines -----------------------------------------------------------------------------------


async def test_a_renamed_line_never_rings_the_old_phone(sandbox, tmp_path):
    phones = {phone["name"]: phone for phone in sandbox.data.phones}
    sales, support = phones["Sales"], phones["Support"]
    with replicas(sandbox, tmp_path) as (a, b):
        async with to(a) as on_a, to(b) as on_b:
            for client in (on_a, on_b):  # both processes have the lines in their read cache
                assert data(await client.call_tool("list_phones", {}))
            # renamed before the preview: every process sees the new name at once
            sales["name"], support["name"] = "Sales (old)", "Sales"
            previews = [data(await client.call_tool("start_call", RING)) for client in (on_a, on_b)]
            # renamed back between the preview and its confirmation
            sales["name"], support["name"] = "Sales", "Support"
            code = previews[0]["confirmation_code"]
            again = data(await on_b.call_tool("start_call", {**RING, "confirmation_code": code}))
            assert rings(sandbox) == []
            done = data(await on_a.call_tool("start_call", {**RING, "confirmation_code": again["confirmation_code"]}))
    assert [preview["request"]["body"]["phone_id"] for preview in previews] == [support["id"]] * 2
    assert again["outcome"] == "preview" and "nothing was sent" in again["message"]
    assert f"body.phone_id: {support['id']} -> {sales['id']}" in again["message"]
    assert done["outcome"] == "done"
    assert [request.body["phone_id"] for request in rings(sandbox)] == [sales["id"]]
