"""Shared fixtures: the bundled SIPSIM simulator on loopback HTTP, settings that point at it, and the
MCP server built on them. Time is fixed so relative windows ("last_week") have known answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from sipsim_mcp.app.demo import simulator_settings
from sipsim_mcp.sandbox import Sandbox, SandboxConfig

#: The simulator's data ends here, and the server's clock reads this: Saturday 28 Nov 2026, 10:00 in Paris.
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)

#: Shape variant of every simulator the fixtures start (`pytest --variant NAME`; see sandbox/variants.py).
VARIANT = "standard"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variant",
        default="standard",
        help="serve the simulator of every fixture in this shape variant (comma-separated names)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global VARIANT
    VARIANT = config.getoption("--variant")


#: The files that take longest (installs, external clients, server processes), longest first. Under
#: `pytest -n auto` (addopts: --dist loadfile --no-loadscope-reorder) a worker runs a file at a time in
#: this order, so the long ones start at once on different workers and the many quick files fill in.
SLOWEST_FIRST = (
    "test_install.py",
    "test_external_clients.py",
    "test_readme.py",
    "test_replicas.py",
    "test_dashboard_browser.py",
    "test_cli.py",
    "test_bundle.py",
    "test_http.py",
    "test_workers.py",
    "test_shapes.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class OnDemandSandbox(Sandbox):
    """A simulator that opens its loopback socket when a test first asks for its address (a subprocess, a
    plain HTTP client, a timeout); clients in the test process call its app directly, with no socket."""

    _opened = False

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        self._opened = True
        return super().start(host, port)

    @property
    def base_url(self) -> str:
        if not self._opened:
            self.start()
        return super().base_url


def make_sandbox(**options: Any) -> Sandbox:
    return OnDemandSandbox(SandboxConfig(**{"anchor": NOW, "variant": VARIANT, **options}))


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One simulator for tests that only read."""
    sandbox = make_sandbox()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh simulator for tests that change data or inject faults."""
    sandbox = make_sandbox()
    yield sandbox
    sandbox.stop()


class Waits(list[float]):
    """A retry policy's sleep that waits for nothing and keeps the seconds it was asked to wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


#: Settings for a server that talks to one of these simulators (its demo client, every scope, Paris time).
settings_for = simulator_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No SIPSIM_* variables from the developer's shell leak into a test, and each test's servers (in this
    process or started by it) keep their embedded state store and audit log in its own directory."""
    import os

    for name in list(os.environ):
        if name.startswith("SIPSIM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def redis(tmp_path: Any) -> Iterator[Any]:
    """A real redis-server on a free loopback port, stopped after the test."""
    from .replicas import redis_server

    with redis_server(tmp_path) as server:
        yield server
