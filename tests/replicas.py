"""Real parts for the replica tests: a `redis-server` on a free loopback port, server processes
(`python -m sipsim_mcp --transport http`) against a simulator, and a round-robin load balancer for an
MCP client."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .external import ROOT, against, unavailable


def free_port() -> int:
    """A loopback port nothing listens on right now (see `Listener` for handing it to another process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` listens on loopback `port`: on Linux, one of its own sockets (not another
    process that took the port first); elsewhere, whether anything answers there."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    rows = (line.split() for line in table.read_text().splitlines()[1:])
    listening = {f"socket:[{row[9]}]" for row in rows if row[3] == "0A" and int(row[1].split(":")[1], 16) == port}
    try:
        files = list(Path(f"/proc/{pid}/fd").iterdir()) if listening else []
    except OSError:  # it has just exited
        return False
    for fd in files:
        with contextlib.suppress(OSError):  # a file closed since the listing
            if os.readlink(fd) in listening:
                return True
    return False


class PortTaken(RuntimeError):
    """The port was free when picked, and taken before the process bound it."""


class Listener:
    """A process that serves on a loopback port, its output in `log`. The first start picks a free port,
    and picks another if the process finds it taken: between the pick and the bind, another pytest
    worker or an outgoing connection may have taken it. Later starts keep the port (a restart)."""

    what = "the server"

    def __init__(self, log: Path, **popen: Any) -> None:
        self.log = log
        self.popen = popen
        self.port = 0
        self.process: subprocess.Popen | None = None

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self, tries: int = 5) -> Listener:
        for attempt in range(1, tries + 1):
            port = self.port or free_port()
            with self.log.open("a") as output:
                self.process = subprocess.Popen(
                    self.command(port), stdin=subprocess.DEVNULL, stdout=output, stderr=output, **self.popen
                )
            try:
                self._wait(port)
            except PortTaken:
                if self.port or attempt == tries:
                    raise
                continue
            self.port = port
            return self
        raise AssertionError("unreachable")

    def _wait(self, port: int, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log.read_text()
                kind = PortTaken if "address already in use" in output.lower() else RuntimeError
                raise kind(f"{self.what} exited with {self.process.returncode}: {output[-2000:]}")
            if listens(self.process.pid, port):
                return
            time.sleep(0.05)
        output = self.log.read_text()[-2000:]
        raise RuntimeError(f"{self.what} did not listen on port {port} within {timeout} s: {output}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Command(Listener):
    """Any command that serves on the port it is given: `command(port)`."""

    def __init__(self, command: Callable[[int], list[str]], log: Path, what: str, **popen: Any) -> None:
        super().__init__(log, **popen)
        self._command = command
        self.what = what

    def command(self, port: int) -> list[str]:
        return self._command(port)


class RedisServer(Listener):
    """A throwaway redis-server (no persistence) that can be stopped and started again on its port."""

    what = "redis-server"

    def __init__(self, binary: str, directory: Path) -> None:
        # Redis is a service of its own, on its own clock: a shifted clock (libfaketime, see .ci/run) is the
        # server's, not Redis's (which fails under it). Its expiries are relative, so either clock serves.
        own = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
        super().__init__(directory / "redis.log", cwd=directory, env=own)
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, port: int) -> list[str]:
        return [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A started redis-server; without one, the test is skipped (a failure under CI)."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if binary is None:
        unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer(binary, directory).start()
    try:
        yield server
    finally:
        server.stop()


class ServerProcess(Listener):
    """`python -m sipsim_mcp --transport http` on a free port, against a simulator, in its own process group
    (as a shell runs a command: a Ctrl-C reaches the whole group)."""

    def __init__(self, sandbox: Any, log: Path, *, stateless: bool = False, workers: int = 1, **env: str) -> None:
        environment = against(sandbox, SIPSIM_TIMEZONE="Europe/Paris", SIPSIM_DEFAULT_REGION="FR", **env)
        super().__init__(log, cwd=ROOT, env=environment, start_new_session=True)
        self.options = ["--stateless"] if stateless else []
        self.options += ["--workers", str(workers)] if workers > 1 else []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "sipsim_mcp", "--transport", "http", "--port", str(port), *self.options]


@contextmanager
def replicas(sandbox: Any, tmp: Path, count: int = 2, **options: Any) -> Iterator[list[ServerProcess]]:
    servers = [ServerProcess(sandbox, tmp / f"server-{i}.log", **options) for i in range(count)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


class RoundRobin(httpx2.AsyncHTTPTransport):
    """A load balancer in a transport: each request goes to the next replica (URL and Host header)."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__()
        self._next = itertools.cycle(ports)
        self.sent: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._next)
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        return await super().handle_async_request(request)


@asynccontextmanager
async def balanced(servers: list[ServerProcess], **options: Any) -> AsyncIterator[Client]:
    """An MCP client whose every HTTP request goes to the next of `servers`."""
    async with (
        httpx2.AsyncClient(transport=RoundRobin([s.port for s in servers]), timeout=60) as http,
        Client(streamable_http_client(servers[0].url, http_client=http), **options) as client,
    ):
        yield client


@asynccontextmanager
async def to(server: ServerProcess, **options: Any) -> AsyncIterator[Client]:
    """An MCP client of one server process."""
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        Client(streamable_http_client(server.url, http_client=http), **options) as client,
    ):
        yield client
