"""The state stores, as the write guards use them: one claim wins among processes racing for a key (the
embedded store across real processes, Redis across connections), values expire, and a store that lost its
data has a new generation (a deleted state file, a Redis restarted empty) while one that kept it has the
same (a reopened file, a Redis restart that kept its data is not tested: the tests' Redis persists nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

from sipsim_mcp.api.config import load_settings
from sipsim_mcp.app.doctor import diagnose
from sipsim_mcp.state import MEMORY_URL, StoreUnavailable, open_store, state_directory
from sipsim_mcp.state.embedded import EmbeddedStore
from sipsim_mcp.state.memory import MemoryStore
from sipsim_mcp.state.remote import RedisStore

from .conftest import settings_for

pytestmark = [pytest.mark.anyio, pytest.mark.clock]

RACER = """
import sys, anyio
from pathlib import Path
from sipsim_mcp.state.embedded import EmbeddedStore

async def main():
    store = EmbeddedStore(Path(sys.argv[1]))
    while not Path(sys.argv[2]).exists():  # all start together
        await anyio.sleep(0.001)
    won = [key for key in range(50) if await store.claim(f"race:{key}", sys.argv[3], 60) is None]
    print(",".join(map(str, won)))

anyio.run(main)
"""


def test_of_processes_racing_for_each_key_exactly_one_wins(tmp_path):
    path, go = tmp_path / "state.db", tmp_path / "go"
    EmbeddedStore(path).secret("created")  # the file exists before the race (its creation is not raced here)
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(path), str(go), str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    time.sleep(1.5)  # each has imported and opened the store
    go.touch()
    won = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    keys = [int(key) for line in won for key in line.split(",") if key]
    assert sorted(keys) == list(range(50))  # every key claimed once, by one process


async def test_the_embedded_store_claims_expires_and_keeps_its_generation(tmp_path):
    clock = [1000.0]
    store = EmbeddedStore(tmp_path / "deep" / "state.db", clock=lambda: clock[0])
    assert await store.claim("k", "first", 10) is None
    assert await store.claim("k", "second", 10) == "first"
    clock[0] += 11
    assert await store.get("k") is None
    assert await store.claim("k", "third", 10) is None
    generation, secret = await store.generation(), store.secret("root")
    await store.aclose()
    again = EmbeddedStore(tmp_path / "deep" / "state.db", clock=lambda: clock[0])
    assert (await again.generation(), again.secret("root")) == (generation, secret)
    assert await again.get("k") == "third"
    assert (tmp_path / "deep" / "state.db").stat().st_mode & 0o777 == 0o600
    await again.aclose()
    (tmp_path / "deep" / "state.db").unlink()  # the data is lost (no server running)
    lost = EmbeddedStore(tmp_path / "deep" / "state.db")
    assert await lost.generation() != generation and lost.secret("root") != secret


async def test_an_embedded_store_that_cannot_be_written_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("")
    store = EmbeddedStore(tmp_path / "file" / "state.db")  # its directory would be a file
    with pytest.raises(StoreUnavailable, match="SIPSIM_STATE_DIR"):
        await store.check()


async def test_a_redis_restarted_empty_has_a_new_generation_and_new_secrets(redis):
    store = RedisStore(redis.url)
    generation, secret = await store.generation(), store.secret("root")
    assert await store.claim("k", "v", 60) is None
    redis.stop()
    with pytest.raises(StoreUnavailable):
        await store.generation()
    redis.start()
    assert await store.generation() != generation
    assert store.secret("root") != secret
    assert await store.claim("k", "v", 60) is None  # what was claimed is forgotten: hence the generation
    await store.aclose()


async def test_the_memory_store_is_new_with_each_process():
    assert await MemoryStore().generation() != await MemoryStore().generation()


def test_the_configuration_names_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    embedded = open_store(load_settings())
    assert isinstance(embedded, EmbeddedStore) and embedded.path == tmp_path / "xdg" / "sipsim-mcp" / "state.db"
    moved = open_store(load_settings(state_dir=str(tmp_path / "here")))
    assert isinstance(moved, EmbeddedStore) and moved.path == tmp_path / "here" / "state.db"
    assert isinstance(open_store(load_settings(state_url=MEMORY_URL)), MemoryStore)
    assert isinstance(open_store(load_settings(state_url="redis://127.0.0.1:1/0")), RedisStore)
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_directory() == Path.home() / ".local" / "state" / "sipsim-mcp"


async def test_a_claim_waiting_on_another_process_lock_does_not_stall_the_event_loop(tmp_path):
    """The embedded store runs in a worker thread: while one connection holds the write lock, the event loop
    keeps serving (here: ticks) and the claim completes once the lock is released."""
    import sqlite3

    path = tmp_path / "state.db"
    store = EmbeddedStore(path)
    await store.check()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        await anyio.sleep(0.3)
        claimed = anyio.Event()

        async def claim() -> None:
            assert await store.claim("k", "v", 60) is None
            claimed.set()

        group.start_soon(claim)
        await anyio.sleep(0.3)
        assert not claimed.is_set() and ticks > 20
        holder.execute("COMMIT")
        with anyio.fail_after(5):
            await claimed.wait()
        group.cancel_scope.cancel()
    holder.close()
    await store.aclose()


async def test_doctor_names_the_store_in_use_and_tries_it(shared_sandbox, tmp_path):
    (tmp_path / "a-file").write_text("")
    reports = {
        "embedded": await diagnose(settings_for(shared_sandbox, state_dir=str(tmp_path / "here"))),
        "memory": await diagnose(settings_for(shared_sandbox, state_url=MEMORY_URL, audit_log="off")),
        "broken": await diagnose(settings_for(shared_sandbox, state_dir=str(tmp_path / "a-file"))),
    }
    checks = {name: {c.name: c for c in report.checks} for name, report in reports.items()}
    embedded = checks["embedded"]["state"]
    assert embedded.status == "ok" and f"embedded SQLite at {tmp_path / 'here' / 'state.db'}" in embedded.detail
    assert "every server process on this machine" in embedded.detail
    assert checks["embedded"]["audit"].status == "ok" and str(tmp_path / "here" / "audit.jsonl") in (
        checks["embedded"]["audit"].detail
    )
    assert checks["memory"]["state"].status == "ok" and "this process only" in checks["memory"]["state"].detail
    assert checks["memory"]["audit"].status == "warn" and "SIPSIM_AUDIT_LOG=off" in checks["memory"]["audit"].detail
    broken = checks["broken"]["state"]
    assert (
        broken.status == "fail" and "writes would be refused" in broken.detail and "SIPSIM_STATE_DIR" in broken.detail
    )
    assert checks["broken"]["audit"].status == "fail"
    assert reports["embedded"].ok and not reports["broken"].ok


async def test_doctor_names_who_asked_for_a_write_of_unknown_outcome(shared_sandbox, tmp_path):
    audit = tmp_path / "audit.jsonl"
    sent = {
        "time": (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(),
        "pid": 2**22 + 1,  # above the kernel's pid limit: a process that no longer runs
        "attempt": "a1",
        "person": {"sub": "marie", "iss": "https://login.acme.test", "email": "marie@acme.test"},
        "tool": "start_call",
        "outcome": "sending",
        "request": {"method": "POST", "path": "/calls", "body": {"phone_id": 1, "number": "+33612345678"}},
    }
    audit.write_text(json.dumps(sent) + "\n")
    report = await diagnose(settings_for(shared_sandbox, audit_log=str(audit)))
    [check] = [c for c in report.checks if c.name == "audit"]
    assert check.status == "warn" and "start_call POST /calls" in check.detail
    assert "(asked by marie@acme.test)" in check.detail
