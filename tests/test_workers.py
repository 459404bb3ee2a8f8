"""`--workers N --stateless`: several server processes on one port sharing one state store (the embedded
default, or Redis). Real processes, real sockets, a real redis-server: two workers both answer (tools/list, a
read, a write preview), a code issued by one is accepted by the other, each exactly once; the refusals; no
process left behind on SIGTERM or Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from .external import ROOT, server_env
from .mcp_helpers import data, error_text, writes
from .replicas import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.clock]


def descendants(pid: int) -> set[int]:
    """Every live process under `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def spawned(pid: int) -> set[int]:
    """The worker processes under `pid` (not multiprocessing's resource tracker)."""
    return {child for child in descendants(pid) if b"spawn_main" in _cmdline(child)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def left_behind(pids: set[int], within: float = 15) -> set[int]:
    """The processes of `pids` still alive after `within` seconds (none, when shutdown is clean); they
    are killed, so that a failing test leaves no process either."""
    deadline = time.monotonic() + within
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and _state(pid) != "Z"}
        time.sleep(0.05)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    return alive


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@asynccontextmanager
async def one_connection(server: ServerProcess) -> AsyncIterator[Client]:
    """An MCP client whose requests all travel on one TCP connection, so one worker answers all of them."""
    async with (
        httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=1)) as http,
        Client(streamable_http_client(server.url, http_client=http)) as client,
    ):
        yield client


async def confirm(client: Client, name: str, code: str) -> CallToolResult:
    return await client.call_tool("create_tag", {"name": name, "confirmation_code": code})


@pytest.mark.parametrize("store", ["embedded", "redis"])
async def test_two_workers_answer_and_a_code_from_one_is_accepted_once_by_the_other(sandbox, tmp_path, store, request):
    """On one machine the workers share the embedded store with nothing installed; Redis serves as well."""
    audit = tmp_path / "audit.jsonl"
    env = {"SIPSIM_AUDIT_LOG": str(audit)}  # no SIPSIM_CONFIRM_KEY: the store keeps the shared secret
    if store == "redis":
        env["SIPSIM_STATE_URL"] = request.getfixturevalue("redis").url
    server = ServerProcess(sandbox, tmp_path / "server.log", stateless=True, workers=2, **env)
    server.start()
    assert server.process is not None

    def audited(outcome: str) -> dict[str, int]:
        """The pid of the process that audited each tag name with this outcome."""
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        return {line["arguments"]["name"]: line["pid"] for line in lines if line["outcome"] == outcome}

    try:
        async with AsyncExitStack() as stack:
            # The kernel picks the worker that accepts a connection: open connections until both answered.
            # A client's requests share its one connection, so its preview's pid names the worker that
            # also answered its tools/list and its read.
            by_worker: dict[int, tuple[Client, str, str]] = {}
            for i in range(40):
                client = await stack.enter_async_context(one_connection(server))
                tools = {tool.name for tool in (await client.list_tools()).tools}
                calls = data(await client.call_tool("list_calls", {"since": "yesterday", "limit": 2}))
                assert "create_tag" in tools and calls["returned"] == 2
                name = f"Worker tag {i}"
                code = data(await client.call_tool("create_tag", {"name": name}))["confirmation_code"]
                by_worker.setdefault(audited("preview")[name], (client, name, code))
                if len(by_worker) == 2:
                    break
            workers = descendants(server.process.pid)
            assert len(by_worker) == 2 and set(by_worker) <= workers
            (a, (_, name_a, code_a)), (b, (_, name_b, code_b)) = by_worker.items()

            async def on_worker(pid: int) -> Client:
                """A client whose connection reaches worker `pid` now (an idle connection is closed after a
                few seconds, and its client's next one may reach the other worker)."""
                for j in range(40):
                    client = await stack.enter_async_context(one_connection(server))
                    probe = f"Probe {pid} {j}"
                    await client.call_tool("create_tag", {"name": probe})
                    if audited("preview")[probe] == pid:
                        return client
                raise AssertionError(f"no connection reached worker {pid}")

            # each code confirmed on the worker that did not issue it, then refused on the one that did
            done = [data(await confirm(await on_worker(b), name_a, code_a))]
            on_a = await on_worker(a)
            done.append(data(await confirm(on_a, name_b, code_b)))
            again = [error_text(await confirm(on_a, name_a, code_a))]
            again.append(error_text(await confirm(await on_worker(b), name_b, code_b)))
    finally:
        server.process.terminate()
        code = server.process.wait(20)
    assert [answer["outcome"] for answer in done] == ["done", "done"]
    assert audited("done") == {name_a: b, name_b: a}
    assert all("already been used" in text for text in again)
    assert [r.body["name"] for r in writes(sandbox, "POST", "/api/v2/tags")] == [name_a, name_b]
    assert code == 0 and left_behind(workers) == set()


@pytest.mark.parametrize("stop", ["ctrl-c", "supervisor killed"])
async def test_no_worker_outlives_a_ctrl_c_or_its_killed_supervisor(sandbox, tmp_path, stop):
    """A read-only server's workers write nothing."""
    server = ServerProcess(sandbox, tmp_path / "server.log", stateless=True, workers=2, SIPSIM_READ_ONLY="true")
    server.start()
    assert server.process is not None
    try:
        async with one_connection(server) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            calls = data(await client.call_tool("list_calls", {"since": "yesterday", "limit": 1}))
        workers = descendants(server.process.pid)
    finally:
        if stop == "ctrl-c":  # in a terminal, Ctrl-C signals the whole process group
            os.killpg(server.process.pid, signal.SIGINT)
        else:
            server.process.kill()
        code = server.process.wait(20)
    assert "list_calls" in tools and "create_tag" not in tools and calls["returned"] == 1
    assert len(workers) >= 2 and code == (0 if stop == "ctrl-c" else -signal.SIGKILL)
    assert left_behind(workers) == set()


def test_no_worker_outlives_a_supervisor_killed_while_the_workers_start(sandbox, tmp_path):
    """Killed while its workers import the server, before they can ask to be signalled of its death: each
    sees on its own that it was orphaned and stops."""
    server = ServerProcess(sandbox, tmp_path / "server.log", stateless=True, workers=2, SIPSIM_READ_ONLY="true")
    server.start()
    assert server.process is not None
    deadline = time.monotonic() + 30
    while len(workers := spawned(server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # each has its instructions from the supervisor and is importing (about a second)
    server.process.kill()
    server.process.wait(20)
    assert len(workers) >= 2
    assert left_behind(workers) == set()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--transport", "http", "--workers", "2"], "--workers 2 needs --stateless: an MCP session lives"),
        (
            ["--transport", "http", "--stateless", "--workers", "3"],
            "--workers 3 needs a state store every worker shares, and SIPSIM_STATE_URL=memory:// keeps",
        ),
        (["--workers", "2"], "--workers 2 serves HTTP: add --transport http --stateless."),
        (["--transport", "http", "--workers", "0"], "expected a number of processes from 1 to 64, got '0'"),
    ],
)
def test_workers_are_refused_where_they_would_break_sessions_or_write_guards(arguments, message):
    done = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", *arguments],
        cwd=ROOT,
        env=server_env(SIPSIM_CLIENT_ID="demo", SIPSIM_CLIENT_SECRET="demo-secret", SIPSIM_STATE_URL="memory://"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
