"""Real parts for the replica tests: a `redis-server` on a free loopback port, server processes
(`python -m sipsim_mcp --transport http`) against a simulator, and a round-robin load balancer for an
MCP client."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .external import ROOT, against, unavailable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


class RedisServer:
    """A throwaway redis-server (no persistence) that can be stopped and started again on its port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process, "redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


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


class ServerProcess:
    """`python -m sipsim_mcp --transport http` on a free port, against a simulator, in its own process group
    (as a shell runs a command: a Ctrl-C reaches the whole group)."""

    def __init__(self, sandbox: Any, log: Path, *, stateless: bool = False, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.args = [sys.executable, "-m", "sipsim_mcp", "--transport", "http", "--port", str(self.port)]
        self.args += ["--stateless"] if stateless else []
        self.args += ["--workers", str(workers)] if workers > 1 else []
        self.env = against(sandbox, SIPSIM_TIMEZONE="Europe/Paris", SIPSIM_DEFAULT_REGION="FR", **env)
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        with self.log.open("a") as errors:
            self.process = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=errors,
                stderr=errors,
                start_new_session=True,
            )
        wait_for_port(self.port, self.process, f"the server (log: {self.log.read_text()[-2000:]})")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


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
